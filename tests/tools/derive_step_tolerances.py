"""Derive the golden training-step tolerances from float64 runs (rule: tests/README.md).

    python tests/tools/derive_step_tolerances.py      # rewrites tests/data/step_tolerances.npz

For each case of ``step/*`` in the fixture:

1. ``exact``: the step run in float64 (our implementation; the same on every machine to
   about 1e-12);
2. ``f32``: the step in float32 on this machine, in both memory formats (NCHW and NHWC run
   different kernels), with 1 and 2 threads (other splits of the reductions) and under three
   instruction sets (the machine's own, ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``,
   ``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41``: other kernels), each in a child
   process; ``err32 = max |f32 - exact|`` per quantity;
3. gradient noise: ``sigma_t = max rms(g32 - g64)`` (over the formats) for every parameter tensor
   ``t``, the float32 error of the gradients each optimiser steps with;
4. ``K`` float64 runs in which every gradient gets Gaussian noise of ``3 * sigma_t`` just
   before its optimiser step; ``spread = max_k |q_k - exact|``.  Adam's first step is
   ``lr * g / (|g| + eps)``, a sign function wherever ``|g| >> eps``: a gradient whose size is
   within its float32 error flips its parameter's update by ``2 * lr``, and everything computed
   after that update (``p_fake_G``, ``l_gan_G``, the deltas) moves with it.  Step 4 measures
   how far that goes;
5. ``tol = 4 * err32 + 2 * spread``: the float32 error of one machine, with margin, plus twice
   the chaotic spread (two machines each within it of the exact value).

The test adds GOLDEN.md's base tolerance (logs ``rtol 1e-5``, deltas ``rtol 1e-3``).
"""

import itertools
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)  # a tool of the test suite: its helpers live there
import conftest  # noqa: E402,F401  (registers the clone's codes/ as `tecogan`)
from golden_steps import CASES, delta_quantities, make_opt, run_step  # noqa: E402

SAMPLES = 8
NOISE_FACTOR = 3.0
ISAS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def float32_variant(case, memory_format, threads, isa):
    """(quantities, gradients) of one float32 step in a child process (the ISA is chosen at start-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "variant.npz")
        env = dict(os.environ, **ISAS[isa])
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--variant", case, memory_format, str(threads), out], check=True, env=env
        )
        data = np.load(out)
        values = {k[2:]: data[k] for k in data.files if k.startswith("q:")}
        grads = {k[2:]: data[k] for k in data.files if k.startswith("g:")}
    return values, grads


def run_variant(case, memory_format, threads, out):
    golden = np.load(os.path.join(TESTS, "data", "reference_seed0.npz"))
    opt = make_opt(case)
    opt["train"]["memory_format"] = memory_format
    torch.set_num_threads(int(threads))
    log, deltas, grads = run_step(golden, case, torch.float32, opt=opt)
    arrays = {f"q:{k}": v for k, v in quantities(golden, case, log, deltas).items()}
    arrays.update({f"g:{tag}/{name}": g.numpy() for tag in grads for name, g in grads[tag].items()})
    np.savez(out, **arrays)


def quantities(golden, case, log, deltas):
    out = {f"step/{case}/log/{k}": np.asarray(v, np.float64) for k, v in log.items()}
    out.update({k: np.asarray(ours, np.float64) for k, (ours, _) in delta_quantities(golden, case, deltas).items()})
    return out


def main():
    golden = np.load(os.path.join(TESTS, "data", "reference_seed0.npz"))
    tolerances, report = {}, []
    for case in CASES:
        t0 = time.time()
        log64, d64, g64 = run_step(golden, case, torch.float64)
        exact = quantities(golden, case, log64, d64)
        err32 = {k: np.zeros_like(v) for k, v in exact.items()}
        sigma = {(tag, name): 0.0 for tag in g64 for name in g64[tag]}
        for isa in ISAS:
            for memory_format, threads in itertools.product(("contiguous", "channels_last"), (1, 2)):
                values, grads32 = float32_variant(case, memory_format, threads, isa)
                for key, value in values.items():
                    err32[key] = np.maximum(err32[key], np.abs(value - exact[key]))
                for tag, name in sigma:
                    diff = grads32[f"{tag}/{name}"] - g64[tag][name].numpy()
                    sigma[(tag, name)] = max(sigma[(tag, name)], float(np.sqrt(np.mean(diff * diff))))
        spread = {k: np.zeros_like(v) for k, v in exact.items()}
        for k in range(SAMPLES):
            gen = torch.Generator().manual_seed(1000 + k)

            def noise(tag, name, grad, gen=gen, sigma=sigma):
                scale = NOISE_FACTOR * sigma[(tag, name)]
                return grad + scale * torch.randn(grad.shape, generator=gen, dtype=torch.float64).to(grad.dtype)

            log_k, d_k, _ = run_step(golden, case, torch.float64, grad_noise=noise)
            for key, value in quantities(golden, case, log_k, d_k).items():
                spread[key] = np.maximum(spread[key], np.abs(value - exact[key]))
        for key in exact:
            tolerances[key] = 4.0 * err32[key] + 2.0 * spread[key]
        worst = max((float(np.max(tolerances[k] / (np.abs(exact[k]) + 1e-12))), k) for k in exact if "/log/" in k)
        report.append(f"{case}: {time.time() - t0:.0f} s; loosest log tolerance {worst[0]:.2e} relative ({worst[1]})")
    out = os.path.join(TESTS, "data", "step_tolerances.npz")
    np.savez_compressed(out, **{k: v.astype(np.float64) for k, v in tolerances.items()})
    print("\n".join(report))
    print(f"written {out} ({len(tolerances)} quantities)")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--variant":
        run_variant(*sys.argv[2:])
    else:
        main()
