"""The training loop (one for every model), checkpoints, exact resume and distribution."""
