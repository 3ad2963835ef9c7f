"""Helpers shared by the subcommands (not a subcommand: the leading underscore hides it).

The boundary checks live here, once for every command: argument bounds (argparse types), output
paths (``prepare_output``: refused when an input, a folder, unwritable or of the wrong type,
before any work), the torch device, and ``describe`` for the one-line error of any user error.
"""
import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path


def progress(iterable, total=None, desc=None, disable=False):
    """tqdm progress bar on stderr (hidden when ``disable``, e.g. with --json)."""
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, leave=False)


def print_json(obj):
    print(json.dumps(obj, indent=2, sort_keys=False))


def add_crf_argument(parser, default='pair'):
    parser.add_argument(
        '--crf', default=default, metavar='SPEC',
        help="camera response: 'pair' (estimate from the two inputs; 'pair:debevec' for the "
        "Debevec-Malik baseline), 'srgb', 'gamma2.2', "
        "'linear', or a .npy/.txt/.mat table file (e.g. from `expinterp calibrate`)"
        f" (default: {default})")


def print_error(message):
    """``expinterp: error: MESSAGE`` on stderr, on a line of its own even while a progress bar
    is drawn there (tqdm clears and redraws it)."""
    from tqdm import tqdm
    tqdm.write(f'expinterp: error: {message}', file=sys.stderr)


def fail(message):
    """Print an error for the user and return the exit status 2."""
    print_error(message)
    return 2


def user_error_types():
    """Exceptions that report a problem with the user's files or values (not a bug): shown as
    one ``expinterp: error:`` line, exit status 2. OpenCV's errors are among them: its
    calibration and fusion assert on inputs it cannot use (too few pixels for Debevec's grid)."""
    import cv2
    from expinterp_plugin.exposure.imf import SigmoidFitError
    return (ValueError, OSError, SigmoidFitError, cv2.error)


def describe(err):
    """One line for a user error; an OSError names its file (``PATH: Permission denied``)."""
    import cv2
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f'{err.filename}: {err.strerror}'
    if isinstance(err, cv2.error):
        return f'OpenCV cannot process the input ({getattr(err, "err", None) or "no detail"})'
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def describe_for(err, *paths):
    """``describe(err)``, prefixed with the input ``paths`` when it names none of them."""
    message = describe(err)
    if any(str(p) in message for p in paths):
        return message
    return f'{" + ".join(map(str, paths))}: {message}'


def _same_file(a, b):
    """Whether two paths are one file or folder (through symlinks and hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_writable_folder(path):
    """Refuse ``path`` when the nearest existing folder on its way cannot take a new entry
    (read-only, no permission, or a file standing where a folder is needed)."""
    ancestor = Path(os.path.abspath(path)).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f'{path}: cannot be created, {ancestor} is not a folder')
    try:
        with tempfile.TemporaryFile(dir=ancestor, prefix='.expinterp-probe-'):
            pass
    except OSError as err:
        raise ValueError(f'{path}: cannot write into {ancestor} ({err.strerror or err})') \
            from None


def prepare_output(path, inputs=(), suffixes=None, others=()):
    """Check an output file before any work, then remove leftovers of earlier killed writes of it.

    Refused: an existing folder, one of ``inputs`` (same file, also through symlinks or hard
    links), one of the command's ``others`` outputs, a suffix not in ``suffixes`` (when given),
    a place that cannot be written. An existing file is otherwise replaced (atomically).
    """
    from expinterp_plugin.exposure.io import remove_interrupted_writes
    path = Path(path)
    if path.is_dir():
        raise ValueError(f'{path}: is a folder; give a file name')
    for source in inputs:
        if _same_file(path, source):
            raise ValueError(f'{path}: is the input {source}; choose another output name')
    for other in others:
        if other is not None and os.path.abspath(other) == os.path.abspath(path):
            raise ValueError(f'{path}: given for two outputs; they would overwrite each other')
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ValueError(f'{path}: unknown file type {path.suffix!r} (use {" or ".join(suffixes)})')
    check_writable_folder(path)
    remove_interrupted_writes(path)


def prepare_image_output(path, inputs=(), dtype=None, others=()):
    """``prepare_output`` for an image: also a format OpenCV writes that holds ``dtype``."""
    from expinterp_plugin.exposure.io import check_image_output
    check_image_output(path, dtype)
    prepare_output(path, inputs, others=others)


def prepare_output_folder(path, input_folders=()):
    """Check an output folder (of a folder batch) before any work: not a file, none of the
    input folders (same folder, also through symlinks), and writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f'{path}: is a file; folder inputs need an output folder')
    for folder in input_folders:
        if _same_file(path, folder):
            raise ValueError(f'{path}: is the input folder {folder}; its images would be '
                             'replaced: choose another output folder')
    if not path.is_dir():
        check_writable_folder(path)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f'{path}: folder is not writable')


def check_device(device):
    """Refuse a torch device this machine does not have, before a model is loaded."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f'--device {device}: {err}') from None
    if dev.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f'--device {device}: no CUDA GPU is visible to torch '
                             f'{torch.__version__}; use --device cpu')
        if dev.index is not None and dev.index >= count:
            raise ValueError(f'--device {device}: only {count} CUDA GPU(s) visible')


def add_time_arguments(parser):
    """--times, --exposures, --target and --crf: how a pair's exposures are known."""
    parser.add_argument('--times', nargs=2, type=positive_float, metavar=('T_DARK', 'T_BRIGHT'),
                        help='exposure times in seconds (default: EXIF, then --exposures, '
                        'else the ratio is estimated)')
    parser.add_argument('--exposures', metavar='FILE',
                        help='a "FILENAME SECONDS" list holding the inputs\' times')
    parser.add_argument('--target', type=positive_float,
                        help='target time (default sqrt(t_dark t_bright))')
    add_crf_argument(parser)


def number_at_least(kind, low, strict=False):
    """An argparse ``type``: ``kind(text)`` (int or float) that must be finite and >= ``low``
    (> with ``strict``); named like ``kind`` so argparse's "invalid int value" messages stay."""
    def parse(text):
        value = kind(text)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'must be a finite number, got {text}')
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f'must be {">" if strict else ">="} {low}, got {text}')
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = number_at_least(int, 0)
positive_int = number_at_least(int, 1)
non_negative_float = number_at_least(float, 0)
positive_float = number_at_least(float, 0, strict=True)
