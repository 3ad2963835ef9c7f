"""Where the shared data sets are: the one place the benchmarks and the tests resolve it.

The data root is a folder holding ``mefb/``, ``real-brackets/``, ``crf/``, ``hdr/`` and
``handheld/``. It is, in this order: the script's ``--data-root DIR``; the environment variable
``EXPINTERP_DATA``; ``../shared/data`` beside the repository. A data set that is not there
ends a benchmark with one line naming the missing folder and how to point at it (exit status
2), and makes a test that needs it skip with the same words (tests/conftest.py).

Standard library only: the package never imports this, so it does not depend on the data.
"""
import os
import sys
from pathlib import Path

ENV = 'EXPINTERP_DATA'
#: The layout this repository is developed in: the data beside the checkout.
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / 'shared' / 'data'


def data_root(explicit=None):
    """The data root: ``explicit`` (a --data-root value), else $EXPINTERP_DATA, else
    ``DEFAULT_ROOT``. Not checked: ``data_path`` says what is missing."""
    if explicit:
        return Path(explicit)
    return Path(os.environ[ENV]) if os.environ.get(ENV) else DEFAULT_ROOT


def data_path(root, *parts, how=f'set {ENV} or pass --data-root'):
    """``root / parts...`` when it exists; otherwise FileNotFoundError('PATH: not found (HOW)'),
    ``how`` saying how to point at the data."""
    path = Path(root).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f'{path}: not found ({how})')
    return path


def add_data_root_argument(parser):
    """--data-root DIR on a benchmark's parser (default: $EXPINTERP_DATA, then ../shared/data)."""
    parser.add_argument('--data-root', metavar='DIR', type=Path, default=None,
                        help=f'folder holding mefb/, real-brackets/, crf/, hdr/, handheld/ '
                        f'(default: ${ENV}, else {DEFAULT_ROOT})')


def require(root, *parts):
    """``data_path(root, *parts)`` for a script: a missing path ends the process with one
    ``error: PATH: not found (...)`` line on stderr and exit status 2, no traceback."""
    try:
        return data_path(root, *parts)
    except FileNotFoundError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)

