"""The model-driven numeric core: CRF, IMF, weights, y0, I/O (numpy + OpenCV + scipy, no torch).

Images are numpy arrays (H, W, 3), uint8 or uint16 codes, in RGB order when they come from
``read_image``; results of interpolation are float32 in [0, 1] in the inputs' channel order.
"""
from expinterp_plugin.exposure.crf import CRF, PRESETS, load_crf, preset_crf, resolve_crf, save_crf
from expinterp_plugin.exposure.estimate import (ESTIMATORS, calibrate_bracket, estimate_crf,
                                                estimate_pair_exposure)
from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.imf import IMF_METHODS, histogram_imf_table, imf_table
from expinterp_plugin.exposure.io import ImageError, read_image, write_image
from expinterp_plugin.exposure.fusion_quality import mef_ssim
from expinterp_plugin.exposure.virtual2018 import virtual_image_2018
from expinterp_plugin.exposure.y0 import Y0Mapper, interpolate_exposure

__all__ = [
    'CRF', 'PRESETS', 'load_crf', 'preset_crf', 'resolve_crf', 'save_crf', 'ESTIMATORS',
    'calibrate_bracket', 'estimate_crf', 'estimate_pair_exposure', 'IMF_METHODS',
    'histogram_imf_table', 'imf_table', 'ImageError', 'read_image',
    'write_image', 'Y0Mapper', 'interpolate_exposure', 'mertens_fuse', 'mef_ssim',
    'virtual_image_2018'
]
