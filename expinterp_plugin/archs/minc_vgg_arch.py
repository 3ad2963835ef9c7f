"""VGG-16 convolutional features with the MINC material-recognition weights.

Bell, Upchurch, Snavely, Bala, "Material Recognition in the Wild with the Materials in Context
Database", CVPR 2015, released a VGG-16 fine-tuned on MINC only as a Caffe model; the
exposure-interpolation paper (Zheng, Li, Wu) uses its features in the feature loss L_f.
``expinterp convert-minc`` turns that Caffe file into the state dict this module loads.

Caffe conventions are kept so the converted weights apply unchanged: the network takes **BGR**
images in 0..255 with the per-channel mean (B 104, G 117, R 124) subtracted, and max-pooling
rounds the output size up (``ceil_mode=True``). ``MINCPerceptualLoss`` converts RGB [0, 1]
tensors into that convention. Layer ``conv{i}_{j}`` sits at the same position as in
torchvision's ``vgg16().features`` (conv5_3 is index 28); state-dict keys are
``conv{i}_{j}.weight`` / ``conv{i}_{j}.bias``.
"""
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from basicsr.archs.vgg_arch import NAMES
from basicsr.utils.registry import ARCH_REGISTRY

# basicsr's VGG layer table, the same order and positions as torchvision's vgg16().features.
VGG16_LAYER_NAMES = tuple(NAMES['vgg16'])
VGG16_CONV_NAMES = tuple(name for name in VGG16_LAYER_NAMES if name.startswith('conv'))
_BLOCK_WIDTHS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def vgg16_conv_specs():
    """[(name, in_channels, out_channels)] for conv1_1 .. conv5_3, all 3x3, in network order."""
    specs, in_channels = [], 3
    for name in VGG16_CONV_NAMES:
        width = _BLOCK_WIDTHS[int(name[len('conv')])]
        specs.append((name, in_channels, width))
        in_channels = width
    return specs


# Caffe's per-channel mean of the MINC/ImageNet VGG models, in BGR order, on the 0..255 scale.
CAFFE_BGR_MEAN = (104.0, 117.0, 124.0)

CONVERT_HINT = ('convert the published MINC Caffe model with '
                '`expinterp convert-minc minc-vgg16.caffemodel -o minc_vgg16.pth`')


def _vgg16_layers_until(last_conv):
    """OrderedDict of VGG-16 feature layers from conv1_1 up to and including ``last_conv``."""
    convs = {name: (cin, cout) for name, cin, cout in vgg16_conv_specs()}
    layers = OrderedDict()
    for name in VGG16_LAYER_NAMES[:VGG16_LAYER_NAMES.index(last_conv) + 1]:
        if name in convs:
            layers[name] = nn.Conv2d(*convs[name], 3, padding=1)
        elif name.startswith('relu'):
            layers[name] = nn.ReLU()
        else:
            layers[name] = nn.MaxPool2d(2, stride=2, ceil_mode=True)
    return layers


def rgb01_to_caffe_bgr(rgb):
    """(N, 3, H, W) float RGB in [0, 1] -> BGR on the 0..255 scale minus ``CAFFE_BGR_MEAN``."""
    mean = rgb.new_tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    return rgb.flip(1) * 255.0 - mean


def load_minc_state_dict(weights_path):
    """Read a converted MINC VGG-16 state dict {key: float32 tensor} from ``weights_path``."""
    if weights_path is None:
        raise FileNotFoundError(f'MINC VGG-16 weights: no weights_path given; {CONVERT_HINT}')
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f'MINC VGG-16 weights not found: {path}; {CONVERT_HINT}')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f'{path}: not a state dict; {CONVERT_HINT}')
    return state


@ARCH_REGISTRY.register()
class MINCVGG16Features(nn.Module):
    """Frozen VGG-16 features up to the deepest of ``layers``, returning pre-ReLU conv outputs.

    forward(x) takes (N, 3, H, W) float **BGR, 0..255, mean-subtracted** (Caffe convention) and
    returns {layer name: (N, C, h, w)} for each name in ``layers`` (conv outputs before their
    ReLU). Only layers up to the deepest requested one are built; they are the module's
    children in network order, named conv{i}_{j}, relu{i}_{j}, pool{i}.

    Args:
        weights_path: converted state dict (``expinterp convert-minc``); keys beyond the built
            layers (deeper convs, fc6/fc7/fc8) are ignored. None leaves random weights only when
            ``allow_random`` is set (tests, benchmarks); otherwise it is an error.
        layers: conv names to return, e.g. ('conv5_3',).
    """

    def __init__(self, weights_path=None, layers=('conv5_3',), allow_random=False):
        super().__init__()
        self.layers = tuple(layers)
        if not self.layers:
            raise ValueError('MINCVGG16Features needs at least one layer name')
        unknown = [name for name in self.layers if name not in VGG16_CONV_NAMES]
        if unknown:
            raise ValueError(f'unknown VGG-16 layer(s) {unknown}; choose from {VGG16_CONV_NAMES}')
        deepest = max(self.layers, key=VGG16_CONV_NAMES.index)
        for name, layer in _vgg16_layers_until(deepest).items():
            self.add_module(name, layer)
        if weights_path is not None or not allow_random:
            self.load_weights(weights_path)
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, weights_path):
        """Copy the needed ``conv*`` tensors from a converted state dict (exact shapes)."""
        state = load_minc_state_dict(weights_path)
        own = self.state_dict()
        missing = [key for key in own if key not in state]
        if missing:
            raise ValueError(f'{weights_path}: missing {missing}; {CONVERT_HINT}')
        for key, param in own.items():
            if tuple(state[key].shape) != tuple(param.shape):
                raise ValueError(f'{weights_path}: {key} has shape {tuple(state[key].shape)}, '
                                 f'expected {tuple(param.shape)}')
        self.load_state_dict({key: state[key] for key in own}, strict=True)

    def train(self, mode=True):
        """Stays in eval mode: the feature net is a fixed measuring instrument."""
        return super().train(False)

    def forward(self, x):
        wanted = set(self.layers)
        out = {}
        for name, layer in self.named_children():
            x = layer(x)
            if name in wanted:
                out[name] = x
        return out
