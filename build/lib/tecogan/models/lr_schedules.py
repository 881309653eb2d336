"""Learning-rate schedules (stepped once per iteration, at its start)."""
import math

from torch.optim.lr_scheduler import LambdaLR, MultiStepLR, LRScheduler


class CosineAnnealingRestartLR(LRScheduler):
    """Cosine annealing over ``periods``; at each of ``restarts`` the LR jumps back to
    ``base_lr * restart_weight`` and anneals again towards ``eta_min``."""

    def __init__(self, optimizer, periods, restarts=None, restart_weights=None, eta_min=0.0, last_epoch=-1):
        self.periods = list(periods)
        self.restarts = [0] + list(restarts or [])
        self.weights = [1.0] + list(restart_weights or [1.0] * (len(self.restarts) - 1))
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        k = max(i for i, r in enumerate(self.restarts) if it >= r)
        period = self.periods[min(k, len(self.periods) - 1)]
        frac = min((it - self.restarts[k]) / period, 1.0)
        w = self.weights[min(k, len(self.weights) - 1)]
        return [self.eta_min + (base * w - self.eta_min) * (1 + math.cos(math.pi * frac)) / 2
                for base in self.base_lrs]


def build_scheduler(optimizer, cfg):
    cfg = cfg or {"type": "FixedLR"}
    kind = cfg["type"]
    if kind == "FixedLR":
        return LambdaLR(optimizer, lambda _it: 1.0)
    if kind == "MultiStepLR":
        return MultiStepLR(optimizer, milestones=cfg["milestones"], gamma=cfg["gamma"])
    if kind == "CosineAnnealingLR_Restart":
        return CosineAnnealingRestartLR(optimizer, cfg["periods"], cfg.get("restarts"),
                                        cfg.get("restart_weights"), cfg["eta_min"])
    raise ValueError(f"unknown lr schedule {kind!r}")
