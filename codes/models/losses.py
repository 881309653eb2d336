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


def build_criterion(cfg):
    """A criterion from its YAML section ({type, weight, reduction}); None when absent."""
    if not cfg:
        return None
    kind, reduction = cfg["type"], cfg["reduction"]
    if kind == "MSE":
        return nn.MSELoss(reduction=reduction)
    if kind == "L1":
        return nn.L1Loss(reduction=reduction)
    if kind == "CB":
        return CharbonnierLoss(reduction=reduction)
    if kind == "CosineSimilarity":
        return CosineSimilarityLoss()
    if kind == "GAN":
        return VanillaGANLoss(reduction)
    if kind == "LSGAN":
        return LSGANLoss(reduction)
    raise ValueError(f"unknown criterion type {kind!r}")
