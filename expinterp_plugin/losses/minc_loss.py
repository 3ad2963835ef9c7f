"""Feature loss L_f of the exposure-interpolation paper (Zheng, Li, Wu).

L_f = mean squared difference of VGG-16 features phi_ij (conv_i_j before its ReLU) of pred and
target, with the VGG-16 fine-tuned on the MINC material database (Bell et al., CVPR 2015). The
paper does not fix i, j; layers and their weights are options, conv5_3 by default.
"""
import torch
from torch import nn

from basicsr.utils.registry import LOSS_REGISTRY

from expinterp_plugin.archs.minc_vgg_arch import MINCVGG16Features, rgb01_to_caffe_bgr
from expinterp_plugin.losses.psi_loss import check_reduction

_CRITERIA = {
    'mse': lambda a, b: (a - b).square(),
    'l1': lambda a, b: (a - b).abs(),
}


@LOSS_REGISTRY.register()
class MINCPerceptualLoss(nn.Module):
    """sum_l w_l * criterion(phi_l(pred), phi_l(target)) over the configured MINC VGG-16 layers.

    pred and target are (N, 3, H, W) float **RGB in [0, 1]**; they are turned into Caffe's BGR,
    0..255, mean-subtracted input before the network. Gradients flow to pred only.

    Args:
        weights_path: state dict written by ``expinterp convert-minc`` (required; nothing
            downloads).
        layers: {conv name: weight}, e.g. {'conv5_3': 1.0}.
        criterion: 'mse' (the paper) or 'l1', elementwise on the feature maps.
        loss_weight: multiplier of the result.
        reduction: 'mean' averages each layer's map, 'sum' sums it; 'none' returns (N,) per-image
            values (each layer averaged per image), whose mean equals the 'mean' result: feature
            maps of different layers have different shapes, so no elementwise map exists.
    """

    def __init__(self, weights_path, layers=None, criterion='mse', loss_weight=1.0,
                 reduction='mean'):
        super().__init__()
        check_reduction(reduction)
        if criterion not in _CRITERIA:
            raise ValueError(f'Unsupported criterion {criterion!r}; '
                             f'choose from {sorted(_CRITERIA)}')
        self.layer_weights = dict(layers or {'conv5_3': 1.0})
        self.criterion = criterion
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.vgg = MINCVGG16Features(weights_path, layers=tuple(self.layer_weights))

    def _reduce(self, elementwise):
        if self.reduction == 'mean':
            return elementwise.mean()
        if self.reduction == 'sum':
            return elementwise.sum()
        return elementwise.flatten(1).mean(dim=1)

    def forward(self, pred, target, **kwargs):
        pred_features = self.vgg(rgb01_to_caffe_bgr(pred))
        with torch.no_grad():
            target_features = self.vgg(rgb01_to_caffe_bgr(target))
        difference = _CRITERIA[self.criterion]
        total = sum(weight * self._reduce(difference(pred_features[name], target_features[name]))
                    for name, weight in self.layer_weights.items())
        return self.loss_weight * total
