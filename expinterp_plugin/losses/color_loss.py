"""Angular colour loss L_c of the exposure-interpolation paper (Zheng, Li, Wu).

L_c = sum_p angle(y(p), y_hat(p)): the angle between the RGB vectors of target and prediction
at every pixel, blind to brightness, sensitive to hue and saturation shifts.
"""
import torch
from torch import nn

from basicsr.losses.loss_util import weighted_loss
from basicsr.utils.registry import LOSS_REGISTRY

from expinterp_plugin.losses.psi_loss import check_reduction


@weighted_loss
def angular_loss(pred, target, eps, clamp):
    """Per-pixel angle in radians, (N, 3, H, W) x2 -> (N, 1, H, W), values in [0, pi].

    The cosine is that of the vectors (r, g, b, sqrt(eps)): within [-1, 1] by Cauchy-Schwarz,
    defined at zero vectors (two black pixels give cosine 1, angle ~0), and equal to the RGB
    cosine up to O(eps / |v|^2) elsewhere. acos' is infinite at +-1, so the cosine is clamped
    to [-1 + clamp, 1 - clamp]: exactly parallel vectors give the constant acos(1 - clamp)
    (about 5e-4 rad at the float32 default) with a zero, not NaN, gradient.
    """
    dot = (pred * target).sum(dim=1, keepdim=True)
    pred_sq = (pred * pred).sum(dim=1, keepdim=True)
    target_sq = (target * target).sum(dim=1, keepdim=True)
    cosine = (dot + eps) / torch.sqrt((pred_sq + eps) * (target_sq + eps))
    return torch.acos(cosine.clamp(-1 + clamp, 1 - clamp))


@LOSS_REGISTRY.register()
class AngularColorLoss(nn.Module):
    """Mean (or sum) per-pixel RGB angle in radians between pred and target (N, 3, H, W).

    Args:
        loss_weight: multiplier of the result. reduction: 'none' (gives (N, 1, H, W)) | 'mean'
            | 'sum'. eps: regulariser of the norms, on the squared-[0, 1] scale.
        clamp: distance kept between the cosine and +-1; the default is float32's resolution
            just below 1.
    forward(pred, target, weight=None): weight (N, 1, H, W).
    """

    def __init__(self, loss_weight=1.0, reduction='mean', eps=1e-8, clamp=1.2e-7):
        super().__init__()
        check_reduction(reduction)
        if eps <= 0 or not 0 < clamp < 1:
            raise ValueError(f'AngularColorLoss needs eps > 0 and 0 < clamp < 1, '
                             f'got {eps} and {clamp}')
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.eps = float(eps)
        self.clamp = float(clamp)

    def forward(self, pred, target, weight=None, **kwargs):
        if pred.shape[1] != 3 or target.shape != pred.shape:
            raise ValueError(f'AngularColorLoss needs two (N, 3, H, W) tensors, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        return self.loss_weight * angular_loss(pred, target, weight, reduction=self.reduction,
                                               eps=self.eps, clamp=self.clamp)
