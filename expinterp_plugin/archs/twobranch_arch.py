"""Direct two-branch baseline of the exposure-interpolation paper (Zheng, Li, Wu, Fig. 5).

The bright and the dark exposure each pass through their own CNN branch, the two feature maps
are concatenated, and a fusion CNN maps them to the medium exposure. No model-driven y0 is
involved: this is the purely data-driven method the hybrid model is compared against.
"""
import torch
from torch import nn

from basicsr.archs.arch_util import ResidualBlockNoBN, make_layer
from basicsr.utils.registry import ARCH_REGISTRY


def _branch(in_channels, num_feat, num_blocks):
    return nn.Sequential(
        nn.Conv2d(in_channels, num_feat, 3, padding=1),
        make_layer(ResidualBlockNoBN, num_blocks, num_feat=num_feat))


@ARCH_REGISTRY.register()
class TwoBranchNet(nn.Module):
    """(N, 6, H, W) = bright RGB ‖ dark RGB in [0, 1] -> (N, 3, H, W) medium exposure RGB.

    Each branch: conv3x3 3->num_feat, ``num_branch_blocks`` residual blocks (conv-ReLU-conv,
    BasicSR's ResidualBlockNoBN). Fusion: conv3x3 2*num_feat->num_feat, ReLU,
    ``num_fusion_blocks`` residual blocks, conv3x3 num_feat->3. The defaults give 2,811,779
    parameters, within 1% of DenoiseNet's 2,834,947, so the comparison is at equal capacity.
    """

    def __init__(self, num_feat=64, num_branch_blocks=8, num_fusion_blocks=21):
        super().__init__()
        self.bright_branch = _branch(3, num_feat, num_branch_blocks)
        self.dark_branch = _branch(3, num_feat, num_branch_blocks)
        self.fusion = nn.Sequential(
            nn.Conv2d(2 * num_feat, num_feat, 3, padding=1),
            nn.ReLU(inplace=True),
            make_layer(ResidualBlockNoBN, num_fusion_blocks, num_feat=num_feat),
            nn.Conv2d(num_feat, 3, 3, padding=1))

    def forward(self, x):
        if x.shape[1] != 6:
            raise ValueError(f'TwoBranchNet expects 6 channels (bright RGB, dark RGB), '
                             f'got shape {tuple(x.shape)}')
        bright, dark = x[:, :3], x[:, 3:]
        features = torch.cat([self.bright_branch(bright), self.dark_branch(dark)], dim=1)
        return self.fusion(features)
