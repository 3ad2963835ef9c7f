"""The shared real brackets as the evaluation scripts read them (../shared/data/real-brackets).

``arguments`` is the scripts' common command line (--max-side, --shared); ``read_brackets``
yields every bracket's frames, sorted by exposure time and resized, or exits naming the folder
when the shared data are not there.
"""
import argparse
import sys
from pathlib import Path

from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.io import read_image
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / 'shared'


def arguments(description, max_side):
    """An ArgumentParser with --max-side (default ``max_side``) and --shared."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--max-side', type=int, default=max_side)
    parser.add_argument('--shared', default=str(DEFAULT_SHARED))
    return parser


def read_brackets(shared, max_side):
    """(bracket folder, exposure times in s, RGB uint8 frames resized to ``max_side``) of every
    shared real bracket, frames in increasing exposure time."""
    root = Path(shared) / 'data' / 'real-brackets'
    if not root.is_dir():
        sys.exit(f'{root}: shared real brackets not found')
    for bracket in find_brackets(root):
        frames = bracket_exposures(bracket)
        yield (bracket, [t for _, t in frames],
               [resize_max_side(read_image(p), max_side) for p, _ in frames])
