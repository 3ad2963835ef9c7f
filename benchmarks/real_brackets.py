"""The shared real brackets as the evaluation scripts read them (../shared/data/real-brackets).

``arguments`` is the scripts' common command line (--max-side, --data-root: see data_root.py);
``read_brackets`` yields every bracket's frames, sorted by exposure time and resized, or exits
naming the folder when the shared data are not there.
"""
import argparse

from data_root import add_data_root_argument, data_root, require

from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.io import read_image
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side


def arguments(description, max_side):
    """An ArgumentParser with --max-side (default ``max_side``) and --data-root."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--max-side', type=int, default=max_side)
    add_data_root_argument(parser)
    return parser


def read_brackets(root, max_side):
    """(bracket folder, exposure times in s, RGB uint8 frames resized to ``max_side``) of every
    real bracket under ``root`` (a --data-root value or None), frames in increasing exposure
    time."""
    root = require(data_root(root), 'real-brackets')
    for bracket in find_brackets(root):
        frames = bracket_exposures(bracket)
        yield (bracket, [t for _, t in frames],
               [resize_max_side(read_image(p), max_side) for p, _ in frames])
