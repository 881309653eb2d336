"""Training criteria of FRVSR/TecoGAN (docs/architecture.md, "Losses and one training step")."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CharbonnierLoss(nn.Module):
    """sqrt((x - y)^2 + eps), mean or sum."""

    def __init__(self, eps=1e-6, reduction="mean"):
        super().__init__()
        self.eps, self.reduction = eps, reduction

    def forward(self, x, y):
        loss = torch.sqrt((x - y) ** 2 + self.eps)
        return loss.sum() if self.reduction == "sum" else loss.mean()


class CosineSimilarityLoss(nn.Module):
    """1 - mean(cosine_similarity(x, y, dim=1))."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x, y):
        return 1 - F.cosine_similarity(x, y, dim=1, eps=self.eps).mean()


class VanillaGANLoss(nn.Module):
    """BCE with logits against an all-real or all-fake target."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.crit = nn.BCEWithLogitsLoss(reduction=reduction)

    def forward(self, logits, real):
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return self.crit(logits, target)


class LSGANLoss(VanillaGANLoss):
    """MSE on the logits."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.crit = nn.MSELoss(reduction=reduction)


# YAML ``type`` -> (a function of the reduction making the criterion, what it compares): "distance"
# (images and features), "feature" (features only) or "adversarial" (logits).  Each *_crit section
# of the config accepts the names of its kinds from here: a new criterion is a class above plus
# one entry.
CRITERIA = {
    "MSE": (lambda reduction: nn.MSELoss(reduction=reduction), "distance"),
    "L1": (lambda reduction: nn.L1Loss(reduction=reduction), "distance"),
    "CB": (lambda reduction: CharbonnierLoss(reduction=reduction), "distance"),
    "CosineSimilarity": (lambda _reduction: CosineSimilarityLoss(), "feature"),
    "GAN": (VanillaGANLoss, "adversarial"),
    "LSGAN": (LSGANLoss, "adversarial"),
}


def criterion_names(*kinds):
    """The criterion names of the given kinds, in table order."""
    return tuple(name for name, (_, kind) in CRITERIA.items() if kind in kinds)


def build_criterion(cfg):
    """A criterion from its YAML section ({type, weight, reduction}); None when absent."""
    if not cfg:
        return None
    if cfg["type"] not in CRITERIA:
        raise ValueError(f"unknown criterion type {cfg['type']!r}")
    return CRITERIA[cfg["type"]][0](cfg["reduction"])
