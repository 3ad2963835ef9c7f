"""The model-driven numeric core: CRF, IMF, weights, y0, I/O, fusion, alignment (numpy + OpenCV +
scipy, no torch).

Images are numpy arrays (H, W, 3), uint8 or uint16 codes, in RGB order when they come from
``read_image``; results of interpolation are float32 in [0, 1] in the inputs' channel order.

The names below are imported on first use (PEP 562): importing one submodule, as the command
line does while it builds its parser, does not load the estimators and scipy behind the rest.
"""
import importlib

_SOURCES = {
    'crf': ('CRF', 'PRESETS', 'load_crf', 'preset_crf', 'resolve_crf', 'save_crf'),
    'estimate': ('ESTIMATORS', 'calibrate_bracket', 'estimate_crf', 'estimate_pair_exposure'),
    'fusion': ('mertens_fuse',),
    'pyramid_fusion': ('coarse_middle_fuse',),
    'imf': ('IMF_METHODS', 'histogram_imf_table', 'imf_table'),
    'io': ('ImageError', 'read_image', 'write_image'),
    'fusion_quality': ('mef_ssim',),
    'virtual2018': ('virtual_image_2018',),
    'y0': ('Y0Mapper', 'interpolate_exposure'),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{_MODULE_OF[name]}'), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
