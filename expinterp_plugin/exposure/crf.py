"""Camera response functions (CRF) as tables of log inverse response.

A CRF is stored as ``g``, a float64 array of shape (levels, 3) with levels = 256 (8-bit) or
65536 (16-bit): ``g[z, c] = ln F_c^-1(z)``, the log irradiance-exposure that produces code ``z``
in channel ``c``. Every column is strictly increasing and normalised so that ``g[levels // 2] = 0``
(code 128 for 8-bit), which fixes the arbitrary scale of F^-1. Channel order is the order of the
images the CRF is used with (RGB everywhere in this package).
"""
from pathlib import Path

import numpy as np

from expinterp_plugin.exposure.io import ImageError, atomic_write_bytes

PRESETS = ('srgb', 'gamma2.2', 'linear')
PRIOR_PREFIXES = ('dorf:', 'emor:')
_LEVELS = (256, 65536)
# The inverse response is undefined at code 0 (any exposure below the first step maps there);
# presets place code 0 at a quarter step so that g stays finite and strictly increasing.
_ZERO_CODE_FRACTION = 0.25


class CRF:
    """Per-channel log inverse camera response ``g = ln F^-1`` over every code value.

    Args:
        g: array (levels,) or (levels, 3), levels 256 or 65536, strictly increasing per channel.
        name: where it came from (for messages and JSON output).
    """

    def __init__(self, g, name='custom'):
        g = np.asarray(g, dtype=np.float64)
        if g.ndim == 1:
            g = np.repeat(g[:, None], 3, axis=1)
        if g.ndim != 2 or g.shape[0] not in _LEVELS or g.shape[1] != 3:
            raise ValueError(f'CRF {name}: table shape {g.shape}, need (256|65536, 3)')
        if not np.all(np.isfinite(g)):
            raise ValueError(f'CRF {name}: table has non-finite values')
        if not np.all(np.diff(g, axis=0) > 0):
            raise ValueError(f'CRF {name}: table is not strictly increasing in every channel')
        self.g = g - g[g.shape[0] // 2]
        self.name = name

    @property
    def levels(self):
        return self.g.shape[0]

    @property
    def max_code(self):
        return self.levels - 1

    def __repr__(self):
        return f'CRF(name={self.name!r}, levels={self.levels})'


def strictly_increasing(g, min_step=1e-6):
    """Smallest (levels, C) table >= ``g`` whose columns rise by at least ``min_step`` per row.

    Dips (an estimate's noise) and flat stretches are lifted onto a ramp of slope ``min_step``
    (a running maximum of ``g`` less that ramp); where ``g`` already rises by ``min_step`` or
    more it is left as it is.
    """
    g = np.asarray(g, dtype=np.float64)
    ramp = min_step * np.arange(g.shape[0], dtype=np.float64)[:, None]
    # The outer maximum keeps the result >= g exactly, whatever "- ramp + ramp" rounds to.
    return np.maximum(g, np.maximum.accumulate(g - ramp, axis=0) + ramp)


def preset_crf(name, levels=256):
    """A standard response: 'srgb' (IEC 61966-2-1), 'gamma2.2' or 'linear' (RAW-derived data)."""
    z = np.arange(levels, dtype=np.float64)
    z[0] = _ZERO_CODE_FRACTION
    v = z / (levels - 1)
    if name == 'srgb':
        linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    elif name == 'gamma2.2':
        linear = v ** 2.2
    elif name == 'linear':
        linear = v
    else:
        raise ValueError(f'unknown CRF preset {name!r}; choose from {", ".join(PRESETS)}')
    return CRF(np.log(linear), name=name)


#: The file types ``save_crf`` writes.
CRF_SUFFIXES = ('.npy', '.txt')


def save_crf(crf, path):
    """Write ``crf.g`` as .npy (levels x 3) or .txt (one row per code), atomically."""
    path = Path(path)
    if path.suffix == '.npy':
        import io
        buf = io.BytesIO()
        np.save(buf, crf.g)
        atomic_write_bytes(path, buf.getvalue())
    elif path.suffix == '.txt':
        lines = [f'# ln inverse camera response g(z), one row per code value; crf: {crf.name}']
        lines += [' '.join(f'{v:.10g}' for v in row) for row in crf.g]
        atomic_write_bytes(path, ('\n'.join(lines) + '\n').encode())
    else:
        raise ValueError(f'{path}: CRF files are .npy or .txt')


def load_crf(path):
    """Read a CRF table from .npy, .txt (levels x 3 or levels x 1) or .mat (variable ``crf``).

    The .mat form is the table of the TCE 2022 follow-up code: 256x3, ``g(z) = ln E``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: CRF file not found')
    try:
        if path.suffix == '.npy':
            table = np.load(path, allow_pickle=False)
        elif path.suffix == '.txt':
            table = np.loadtxt(path, ndmin=2, comments='#')
        elif path.suffix == '.mat':
            from scipy.io import loadmat
            content = loadmat(path)
            if 'crf' not in content:
                raise ImageError(f'{path}: no variable named "crf" in the .mat file')
            table = content['crf']
        else:
            raise ImageError(f'{path}: unknown CRF file type (use .npy, .txt or .mat)')
    except (OSError, ValueError) as err:
        raise ImageError(f'{path}: cannot read CRF table ({err})') from err
    table = np.asarray(table, dtype=np.float64)
    if table.ndim == 2 and table.shape[0] in (1, 3) and table.shape[1] in _LEVELS:
        table = table.T
    if table.ndim == 2 and table.shape[1] == 1:
        table = table[:, 0]
    try:
        return CRF(table, name=str(path))
    except ValueError as err:
        raise ImageError(f'{path}: {err}') from err


def resolve_crf(spec, levels=256):
    """A CRF from a CRF object, a table, a preset name, a prior curve ('dorf:INDEX',
    'emor:C1,C2,...', see ``parse_prior_spec``) or a file path."""
    if isinstance(spec, CRF):
        return spec
    if isinstance(spec, np.ndarray):
        return CRF(spec)
    if isinstance(spec, (str, Path)):
        if str(spec) in PRESETS:
            return preset_crf(str(spec), levels)
        if str(spec).startswith(PRIOR_PREFIXES):
            return parse_prior_spec(str(spec), levels)
        return load_crf(spec)
    raise TypeError(f'cannot make a CRF from {type(spec).__name__}')


def parse_prior_spec(spec, levels=256):
    """CRF of 'dorf:INDEX' (DoRF curve INDEX, 0..200, read from the file named by
    $EXPINTERP_DORF) or 'emor:C1,C2,...' (the packaged DoRF model with these coefficients; see
    ``crf_prior.emor_crf``). ValueError with the problem for a malformed spec."""
    from expinterp_plugin.exposure import crf_prior
    kind, _, value = spec.partition(':')
    if kind == 'dorf':
        try:
            index = int(value)
        except ValueError:
            raise ValueError(f'--crf {spec}: need dorf:INDEX with an integer INDEX') from None
        return crf_prior.dorf_crf(index, levels=levels)
    try:
        coefficients = [float(v) for v in value.split(',')]
    except ValueError:
        raise ValueError(f'--crf {spec}: need emor:C1,C2,... with numbers') from None
    if not all(np.isfinite(coefficients)):
        raise ValueError(f'--crf {spec}: coefficients must be finite')
    return crf_prior.emor_crf(coefficients, levels)
