"""Learning-rate schedules (stepped once per iteration, at its start)."""

import copy
import math

from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR

from tecogan.errors import UserError


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
        return [self.eta_min + (base * w - self.eta_min) * (1 + math.cos(math.pi * frac)) / 2 for base in self.base_lrs]


# YAML ``lr_schedule.type`` -> a function (optimizer, section) making the scheduler; the config's
# choices are read from here
SCHEDULES = {
    "FixedLR": lambda optimizer, _cfg: LambdaLR(optimizer, lambda _it: 1.0),
    "MultiStepLR": lambda optimizer, cfg: MultiStepLR(optimizer, milestones=cfg["milestones"], gamma=cfg["gamma"]),
    "CosineAnnealingLR_Restart": lambda optimizer, cfg: CosineAnnealingRestartLR(
        optimizer, cfg["periods"], cfg.get("restarts"), cfg.get("restart_weights"), cfg["eta_min"]
    ),
}


def build_scheduler(optimizer, cfg):
    cfg = cfg or {"type": "FixedLR"}
    if cfg["type"] not in SCHEDULES:
        raise UserError(f"unknown lr schedule {cfg['type']!r}")
    return SCHEDULES[cfg["type"]](optimizer, cfg)


# what a YAML lr_schedule (and the optimiser's lr) sets; everything else (the position) is state
SCHEDULE_KEYS = ("base_lrs", "periods", "restarts", "weights", "eta_min", "milestones", "gamma")


def load_scheduler_state(scheduler, state, name="lr"):
    """Restore a saved scheduler's position but keep the configured schedule.

    A resumed run follows the YAML it is started with: a schedule edited between sessions
    (e.g. a shorter ``periods``) takes effect instead of being silently replaced by the saved
    one.  Returns the differences, as ``["<name>.periods [6000] -> [3000]", ...]``.
    """
    configured = {k: copy.deepcopy(getattr(scheduler, k)) for k in SCHEDULE_KEYS if hasattr(scheduler, k)}
    scheduler.load_state_dict(state)
    changes = []
    for key, value in configured.items():
        saved = getattr(scheduler, key)
        if saved != value:
            changes.append(
                f"{name}.{key} {list(saved) if isinstance(saved, dict) else saved} -> "
                f"{list(value) if isinstance(value, dict) else value}"
            )
            setattr(scheduler, key, value)
    if changes and isinstance(scheduler, MultiStepLR):
        # MultiStepLR multiplies the optimiser's current rate at each milestone and never reads
        # base_lrs again: the rate the YAML's schedule gives at this position is set here
        lrs = [
            base * scheduler.gamma ** sum(n for m, n in scheduler.milestones.items() if m <= scheduler.last_epoch)
            for base in scheduler.base_lrs
        ]
        for group, lr in zip(scheduler.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        scheduler._last_lr = lrs
    return changes
