"""Robust reconstruction loss psi of the exposure-interpolation paper.

Zheng, Li, Wu, "Exposure Interpolation by Combining Model-driven and Data-driven Methods":
L_r = sum_p psi(y - y0 - f(y0)) with

    psi(z) = |z|                    if |z| > c
           = (z^2 + c^2) / (2 c)    otherwise,        c = 5/255 for images in [0, 1].

psi is continuous with a continuous derivative (z/c inside, sign(z) outside): L1's robustness
to large residuals, and a smooth quadratic that does not push hard on residuals below c.
"""
from torch import nn

from basicsr.losses.loss_util import weighted_loss
from basicsr.utils.registry import LOSS_REGISTRY

_REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction):
    """Raise a ValueError naming the supported modes for anything but none/mean/sum."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f'Unsupported reduction mode: {reduction}. '
                         f'Supported ones are: {_REDUCTIONS}')


@weighted_loss
def psi_loss(pred, target, c):
    """Elementwise psi(pred - target); any shape; same shape out (before reduction)."""
    z = pred - target
    magnitude = z.abs()
    return magnitude.where(magnitude > c, (z * z + c * c) / (2 * c))


@LOSS_REGISTRY.register()
class PsiLoss(nn.Module):
    """psi loss between pred and target (N, C, H, W), images in [0, 1].

    Args:
        loss_weight: multiplier of the result. reduction: 'none' | 'mean' | 'sum'.
        c: threshold between the quadratic and the linear part (5/255 in the paper).
    forward(pred, target, weight=None): weight (N, 1 or C, H, W) as in BasicSR's L1Loss.
    """

    def __init__(self, loss_weight=1.0, reduction='mean', c=5 / 255):
        super().__init__()
        check_reduction(reduction)
        if c <= 0:
            raise ValueError(f'PsiLoss threshold c must be positive, got {c}')
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.c = float(c)

    def forward(self, pred, target, weight=None, **kwargs):
        return self.loss_weight * psi_loss(pred, target, weight, reduction=self.reduction, c=self.c)
