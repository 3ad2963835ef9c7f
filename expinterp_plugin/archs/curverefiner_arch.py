"""CurveRefiner: a lightweight residual refiner of y0 with a predicted per-image tone curve.

The remaining error of the model-driven y0 on an unseen camera is mostly a global misfit of the
estimated response curve, which a local CNN sees only through its small receptive field. So the
refiner has two parts (in the spirit of the "lightweight residual learning" CNN of the ICASSP
2020 version of the method, Zheng, Li, Wu, "Exposure interpolation via hybrid learning", and of
curve-predicting enhancers such as Guo et al., "Zero-reference deep curve estimation", CVPR
2020):

- a **global branch** on a fixed-size (``global_size`` squared) area-downsampled copy of the
  input: three stride-2 convolutions, average- and max-pooled, an MLP that predicts a
  piecewise-linear correction curve of y0 per channel (``knots`` values on [0, 1]) and a
  per-feature scale and shift (FiLM) for the local branch;
- a **local branch** at full resolution: 3x3 convolutions of ``n_feat`` features on
  y0 ‖ bright ‖ dark, modulated by the global FiLM, ending in a 3-channel residual.

residual = curve_c(y0_c) + local; the model adds y0 (``HybridExposureModel``). Both output
layers start at zero, so an untrained refiner returns y0 exactly.
"""
import torch
from torch import nn
from torch.nn import functional as F

from basicsr.utils.registry import ARCH_REGISTRY


def piecewise_linear(values, knots):
    """Evaluate per-image, per-channel piecewise-linear curves.

    values: (N, C, H, W) in [0, 1] (clamped); knots: (N, C, K) curve values at K evenly spaced
    points of [0, 1]. Returns (N, C, H, W): linear interpolation between neighbouring knots.
    """
    n, c, h, w = values.shape
    k = knots.shape[2]
    pos = values.clamp(0.0, 1.0).reshape(n, c, h * w) * (k - 1)
    lower = pos.floor().clamp(max=k - 2)
    frac = pos - lower
    lower = lower.long()
    below = torch.gather(knots, 2, lower)
    above = torch.gather(knots, 2, lower + 1)
    return (below + frac * (above - below)).reshape(n, c, h, w)


@ARCH_REGISTRY.register()
class CurveRefiner(nn.Module):
    """Residual refiner: (N, in_channels, H, W) -> (N, 3, H, W), any H and W.

    Input y0 ‖ bright ‖ dark (9 channels, RGB in [0, 1], y0 first: the curve acts on
    x[:, :3]); ``in_channels=3`` refines y0 alone.

    Args:
        in_channels: 9 (conditioned) or 3 (hybrid). out_channels: 3.
        n_feat: local-branch width. local_convs: 3x3 convolutions of the local branch (>= 2).
        n_global: global-branch width. global_size: side of the downsampled global input.
        knots: points of each channel's correction curve.
    """

    def __init__(self, in_channels=9, out_channels=3, n_feat=16, local_convs=3, n_global=32,
                 global_size=64, knots=16):
        super().__init__()
        if local_convs < 2:
            raise ValueError(f'local_convs must be >= 2, got {local_convs}')
        if out_channels != 3:
            raise ValueError('the tone curve corrects the 3 channels of y0: out_channels must be 3')
        self.global_size, self.knots, self.n_feat = global_size, knots, n_feat
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, n_global, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(n_global, n_global, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(n_global, n_global, 3, stride=2, padding=1), nn.ReLU(inplace=True))
        self.mlp = nn.Sequential(nn.Linear(2 * n_global, n_global), nn.ReLU(inplace=True))
        self.to_curve = nn.Linear(n_global, 3 * knots)
        self.to_film = nn.Linear(n_global, 2 * n_feat)
        self.head = nn.Conv2d(in_channels, n_feat, 3, padding=1)
        self.body = nn.Sequential(*[m for _ in range(local_convs - 2) for m in (
            nn.Conv2d(n_feat, n_feat, 3, padding=1), nn.ReLU(inplace=True))])
        self.tail = nn.Conv2d(n_feat, out_channels, 3, padding=1)
        for layer in (self.to_curve, self.to_film, self.tail):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def global_code(self, x):
        """(N, n_global) summary of the whole input: pooled features of its small copy."""
        small = F.adaptive_avg_pool2d(x, self.global_size)
        features = self.encoder(small)
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return self.mlp(pooled)

    def forward(self, x, code=None):
        """x: (N, in_channels, H, W); code: ``global_code`` of the whole image when ``x`` is one
        tile of it (tiled inference), default that of ``x`` itself."""
        code = self.global_code(x) if code is None else code
        n = x.shape[0]
        curve = piecewise_linear(x[:, :3], self.to_curve(code).view(n, 3, self.knots))
        scale, shift = self.to_film(code).view(n, 2, self.n_feat, 1, 1).unbind(1)
        features = F.relu(self.head(x) * (1 + scale) + shift)
        return curve + self.tail(self.body(features))
