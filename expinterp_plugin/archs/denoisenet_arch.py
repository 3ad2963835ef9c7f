"""DenoiseNet: the RGB denoiser of CycleISP, reimplemented from its description.

Zamir et al., "CycleISP: Real Image Restoration via Improved Data Synthesis", CVPR 2020.
The exposure-interpolation paper (Zheng, Li, Wu) uses it as the data-driven refiner f in
output = y0 + f(y0). Structure (docs/design.md, "Refining with a network"):

    head  conv3x3 in->F
    body  num_rrg x RRG, conv3x3 F->F, PReLU
          RRG = num_dab x DAB, conv3x3 F->F, + group input
          DAB = conv3x3, PReLU, conv3x3 -> [spatial attention | channel attention]
                -> conv1x1 2F->F -> + block input
    tail  conv3x3 F->out          (+ network input when ``global_skip``)

Module and attribute names reproduce the layout of CycleISP's released RGB denoiser
checkpoints, so ``load_cycleisp_checkpoint`` loads them strictly. That layout shares one PReLU
instance between every DAB and the end of the body: ``parameters()`` counts its weight once
(2,834,947 parameters at the defaults) while ``state_dict()`` lists it under every place it
sits, ``body.{r}.body.{d}.body.1.weight`` and ``body.{num_rrg+1}.weight``.
"""
import pickle
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from basicsr.utils.registry import ARCH_REGISTRY


def _conv(in_channels, out_channels, kernel_size, bias=True):
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class _SpatialGateConv(nn.Module):
    """Holds the 2->1 conv of the spatial attention under the checkpoint name ``conv``."""

    def __init__(self, kernel_size=3):
        super().__init__()
        self.conv = _conv(2, 1, kernel_size, bias=False)

    def forward(self, pooled):
        return self.conv(pooled)


class SpatialAttention(nn.Module):
    """x * sigmoid(conv([max over channels, mean over channels])); (N,C,H,W) -> (N,C,H,W)."""

    def __init__(self, kernel_size=3):
        super().__init__()
        self.spatial = _SpatialGateConv(kernel_size)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation gate: x * sigmoid(W2 relu(W1 avgpool(x))); F -> F/reduction -> F."""

    def __init__(self, n_feat, reduction):
        super().__init__()
        if n_feat // reduction < 1:
            raise ValueError(f'n_feat={n_feat} is too small for reduction={reduction}')
        self.conv_du = nn.Sequential(
            nn.Conv2d(n_feat, n_feat // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(n_feat // reduction, n_feat, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class DAB(nn.Module):
    """Dual attention block; ``act`` may be a PReLU shared with other blocks."""

    def __init__(self, n_feat, reduction, act):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feat, n_feat, 3), act, _conv(n_feat, n_feat, 3))
        self.SA = SpatialAttention()
        self.CA = ChannelAttention(n_feat, reduction)
        self.conv1x1 = nn.Conv2d(2 * n_feat, n_feat, 1)

    def forward(self, x):
        features = self.body(x)
        attended = torch.cat([self.SA(features), self.CA(features)], dim=1)
        return x + self.conv1x1(attended)


class RRG(nn.Module):
    """Recursive residual group: ``num_dab`` DABs, a conv3x3, and the group's input added."""

    def __init__(self, n_feat, reduction, num_dab, make_act):
        super().__init__()
        blocks = [DAB(n_feat, reduction, make_act()) for _ in range(num_dab)]
        self.body = nn.Sequential(*blocks, _conv(n_feat, n_feat, 3))

    def forward(self, x):
        return x + self.body(x)


@ARCH_REGISTRY.register()
class DenoiseNet(nn.Module):
    """CycleISP's RGB denoiser as a BasicSR arch (scale 1).

    Input (N, in_channels, H, W) float, any H and W; output (N, out_channels, H, W). As a
    refiner of y0 the images are RGB in [0, 1]: ``in_channels=3`` for f(y0), 9 for the
    conditioned mode (y0 ‖ bright ‖ dark) and the model adds y0 itself, so ``global_skip`` stays
    off. As CycleISP's standalone denoiser (``global_skip=True``) the output is input + residual.

    Args:
        in_channels, out_channels: image channels in and out.
        n_feat: feature width F. num_rrg: residual groups. num_dab: DABs per group.
        reduction: channel-attention squeeze factor (F -> F/reduction -> F).
        shared_prelu: one PReLU(F) used by every DAB and after the body (as CycleISP);
            False gives every place its own PReLU(F) (same state-dict keys, more parameters).
        global_skip: add the input to the output; needs in_channels == out_channels.
    """

    def __init__(self, in_channels=3, out_channels=3, n_feat=64, num_rrg=4, num_dab=8,
                 reduction=16, shared_prelu=True, global_skip=False):
        super().__init__()
        if global_skip and in_channels != out_channels:
            raise ValueError(f'global_skip needs in_channels == out_channels, '
                             f'got {in_channels} and {out_channels}')
        self.global_skip = global_skip
        shared = nn.PReLU(n_feat)
        make_act = (lambda: shared) if shared_prelu else (lambda: nn.PReLU(n_feat))
        groups = [RRG(n_feat, reduction, num_dab, make_act) for _ in range(num_rrg)]
        self.head = nn.Sequential(_conv(in_channels, n_feat, 3))
        self.body = nn.Sequential(*groups, _conv(n_feat, n_feat, 3), make_act())
        self.tail = nn.Sequential(_conv(n_feat, out_channels, 3))

    def forward(self, x):
        residual = self.tail(self.body(self.head(x)))
        return x + residual if self.global_skip else residual


def _prelu_alias_groups(net):
    """State-dict keys that name the same PReLU weight tensor, grouped (only groups of 2+)."""
    by_tensor = {}
    for key, value in net.state_dict(keep_vars=True).items():
        by_tensor.setdefault(id(value), []).append(key)
    return [keys for keys in by_tensor.values() if len(keys) > 1]


def _fill_shared_aliases(state, net, path):
    """Complete a checkpoint that stores a shared weight under fewer than all of its names.

    A checkpoint saved with ``state_dict()`` repeats the shared PReLU under every name; one
    written by a tool that deduplicates tensors keeps a single name. Either loads strictly.
    """
    state = dict(state)
    for keys in _prelu_alias_groups(net):
        present = [k for k in keys if k in state]
        if not present:
            continue
        first = state[present[0]]
        for k in present[1:]:
            if not torch.equal(state[k], first):
                raise ValueError(f'{path}: {present[0]} and {k} should hold the same shared '
                                 f'PReLU weight but differ')
        for k in keys:
            state.setdefault(k, first)
    return state


def load_cycleisp_checkpoint(net, path):
    """Load a CycleISP RGB denoiser checkpoint into ``net`` (a DenoiseNet) strictly.

    The file is ``torch.load``-ed on the CPU; a dict with a ``state_dict`` entry (as CycleISP
    releases them) is unwrapped and a ``module.`` prefix (DataParallel) is stripped. CycleISP's
    denoiser takes RGB in [0, 1] and adds its input, so build ``net`` with ``global_skip=True``
    to reproduce it. Returns ``net``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'CycleISP checkpoint not found: {path}')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refuses anything but tensors/containers
        raise ValueError(f'{path}: not a plain state dict ({err})') from err
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{path}: not a state dict or a dict with a "state_dict" entry')
    consume_prefix_in_state_dict_if_present(state, 'module.')
    state = _fill_shared_aliases(state, net, path)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f'{path}: does not match this DenoiseNet configuration: {err}') from err
    return net
