"""MEF-SSIM as a BasicSR metric (``type: calculate_mef_ssim`` in an option file's metrics).

BasicSR calls metrics as ``METRIC_REGISTRY.get(type)(**metric_data, **options)``; a model that
scores its output with MEF-SSIM puts the source exposures in its metric data next to the image:
``metric_data = dict(img=fused, sources=[bright, dark, ...])``. Images arrive the way BasicSR's
``tensor2img`` returns them: uint8 **BGR** HxWx3 (codes 0..255); they are flipped to RGB here
before MATLAB-style grey conversion, whose weights differ per channel.
"""
import numpy as np
from basicsr.metrics.metric_util import reorder_image
from basicsr.utils.registry import METRIC_REGISTRY

from expinterp_plugin.exposure.mef_ssim import mef_ssim


def _bgr_to_rgb(img, what, input_order):
    img = reorder_image(np.asarray(img), input_order=input_order)
    if img.ndim == 3 and img.shape[2] == 3:
        return img[..., ::-1]
    raise ValueError(f'{what}: expected a BGR HxWx3 image, got shape {img.shape}')


def _crop(img, border):
    return img[border:-border, border:-border] if border else img


@METRIC_REGISTRY.register()
def calculate_mef_ssim(img, sources, multiscale=True, crop_border=0, input_order='HWC',
                       **kwargs):
    """MEF-SSIM (Ma, Zeng, Wang, TIP 2015) of a fused image against its source exposures.

    img: the fused/output image, uint8 BGR HxWx3 (``tensor2img``'s output; CHW with
    input_order='CHW'). sources: list of the source exposures, uint8 BGR, same layout and size.
    multiscale: 3-scale score (True) or finest scale only. crop_border: pixels removed from
    every edge of all images first. Other keyword arguments (e.g. ``img2``, the ground truth
    BasicSR also passes) are ignored. Returns a float, at most 1.
    """
    if not sources:
        raise ValueError('calculate_mef_ssim needs the source exposures in "sources"')
    fused = _crop(_bgr_to_rgb(img, 'img', input_order), crop_border)
    rgb_sources = [_crop(_bgr_to_rgb(s, f'source {i}', input_order), crop_border)
                   for i, s in enumerate(sources)]
    return mef_ssim(rgb_sources, fused, multiscale=multiscale)
