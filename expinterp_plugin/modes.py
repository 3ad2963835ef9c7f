"""The network-input modes: what the refiner sees and whether the model adds y0 (docs/design.md,
"Network-input modes").

    hybrid       lq = y0                    3 channels, output = y0 + f(lq)   (the paper's)
    conditioned  lq = y0 ‖ bright ‖ dark    9 channels, output = y0 + f(lq)
    direct       lq = bright ‖ dark         6 channels, output = f(lq)        (deep baseline)

This module is the one place that knows the three: the training dataset and full-resolution
inference both build ``lq`` with ``network_input``, and the model and inference take
``adds_y0`` from here. ``mode`` is a model-level option (``opt['mode']``) that the datasets
receive; ``mode_from_options`` also reads option files written before it moved there.
numpy only (no torch): lq is float32 (H, W, C) RGB planes in [0, 1].
"""
from dataclasses import dataclass

import numpy as np

DEFAULT_MODE = 'hybrid'


@dataclass(frozen=True)
class Mode:
    """One network-input mode: ``planes`` the (H, W, 3) inputs concatenated into lq, in order
    (names from 'y0', 'bright', 'dark'); ``adds_y0``: output = y0 + f(lq) rather than f(lq)."""
    planes: tuple
    adds_y0: bool

    @property
    def channels(self):
        """lq channel count: 3 per plane."""
        return 3 * len(self.planes)

    @property
    def needs_y0(self):
        """Whether y0 must be computed at all (as an lq plane or as the added base)."""
        return self.adds_y0 or 'y0' in self.planes


MODES = {
    'hybrid': Mode(('y0',), adds_y0=True),
    'conditioned': Mode(('y0', 'bright', 'dark'), adds_y0=True),
    'direct': Mode(('bright', 'dark'), adds_y0=False),
}


def get_mode(name, where='mode'):
    """The ``Mode`` called ``name``; ValueError naming ``where`` (a file, a dataset) otherwise."""
    if name not in MODES:
        raise ValueError(f'{where}: mode {name!r} not one of {", ".join(MODES)}')
    return MODES[name]


def lq_channels(name):
    """Channel count of the network input in mode ``name`` (3, 9 or 6)."""
    return get_mode(name).channels


def network_input(name, y0, bright, dark):
    """lq of mode ``name``: float32 (H, W, C) RGB in [0, 1], the mode's planes concatenated.

    y0: float32 (H, W, 3) in [0, 1], None where the mode does not use it (direct);
    bright, dark: RGB uint8/uint16 (H, W, 3) codes, scaled by ``codes_to_unit`` when used.
    """
    given = {'y0': lambda: y0, 'bright': lambda: codes_to_unit(bright),
             'dark': lambda: codes_to_unit(dark)}
    planes = [given[p]() for p in get_mode(name).planes]
    return planes[0] if len(planes) == 1 else np.concatenate(planes, axis=2)


def codes_to_unit(img):
    """uint8/uint16 codes (H, W, C) -> float32 in [0, 1]."""
    return img.astype(np.float32) * np.float32(1.0 / np.iinfo(img.dtype).max)


def mode_from_options(opt, where='the options'):
    """The mode of a model's BasicSR options: ``opt['mode']``; in option files that predate
    the model-level key, the one mode their datasets are in. A dataset in another mode than
    the model's (a dataset without ``mode`` is in the default, hybrid) is an error: one network
    has one input layout."""
    stated = {name: d.get('mode') or DEFAULT_MODE
              for name, d in (opt.get('datasets') or {}).items() if isinstance(d, dict)}
    mode = opt.get('mode')
    if mode is None:
        if len(set(stated.values())) > 1:
            raise ValueError(f'{where}: datasets mix modes {sorted(set(stated.values()))}; one '
                             'network takes one input layout: set the model-level mode')
        mode = next(iter(stated.values()), DEFAULT_MODE)
    get_mode(mode, where)
    for name, dataset_mode in stated.items():
        if dataset_mode != mode:
            raise ValueError(f'{where}: dataset {name} is in mode {dataset_mode!r} but the model '
                             f'in {mode!r}; give the datasets the model-level mode')
    return mode


def residual_from_options(opt, where='the options'):
    """Whether the model adds y0: ``opt['residual']`` when given, else the mode's ``adds_y0``."""
    if opt.get('residual') is not None:
        return bool(opt['residual'])
    return get_mode(mode_from_options(opt, where)).adds_y0
