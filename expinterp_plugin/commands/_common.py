"""Helpers shared by the subcommands (not a subcommand: the leading underscore hides it)."""
import argparse
import json
import sys


def progress(iterable, total=None, desc=None, disable=False):
    """tqdm progress bar on stderr (hidden when ``disable``, e.g. with --json)."""
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, leave=False)


def print_json(obj):
    print(json.dumps(obj, indent=2, sort_keys=False))


def add_crf_argument(parser, default='pair'):
    parser.add_argument(
        '--crf', default=default, metavar='SPEC',
        help="camera response: 'pair' (estimate from the two inputs under the DoRF prior; "
        "'pair:polynomial' or 'pair:debevec' for the older estimators), 'srgb', 'gamma2.2', "
        "'linear', 'dorf:INDEX' (DoRF curve 0..200, needs --dorf), 'emor:C1,C2,...' (the "
        "packaged DoRF model's coefficients), or a .npy/.txt/.mat table file (e.g. from "
        f"`expinterp calibrate`) (default: {default})")
    parser.add_argument('--dorf', metavar='FILE', action=_DorfFile,
                        help='the DoRF dorf_201_crf.mat for --crf dorf:INDEX '
                        '(default: $EXPINTERP_DORF)')


class _DorfFile(argparse.Action):
    """--dorf FILE: put FILE in $EXPINTERP_DORF, where ``crf_prior.dorf_path`` looks for it."""

    def __call__(self, parser, namespace, values, option_string=None):
        import os
        from expinterp_plugin.exposure.crf_prior import DORF_ENV
        os.environ[DORF_ENV] = values
        setattr(namespace, self.dest, values)


def fail(message):
    """Print an error for the user and return the exit status 2."""
    print(f'expinterp: error: {message}', file=sys.stderr)
    return 2


def add_time_arguments(parser):
    """--times, --exposures, --target and --crf: how a pair's exposures are known."""
    parser.add_argument('--times', nargs=2, type=float, metavar=('T_DARK', 'T_BRIGHT'),
                        help='exposure times in seconds (default: EXIF, then --exposures, '
                        'else the ratio is estimated)')
    parser.add_argument('--exposures', metavar='FILE',
                        help='a "FILENAME SECONDS" list holding the inputs\' times')
    parser.add_argument('--target', type=float, help='target time (default sqrt(t_dark t_bright))')
    add_crf_argument(parser)


def number_at_least(kind, low, strict=False):
    """An argparse ``type``: ``kind(text)`` (int or float) that must be >= ``low`` (> with
    ``strict``); named like ``kind`` so argparse's "invalid int value" messages stay."""
    def parse(text):
        value = kind(text)
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f'must be {">" if strict else ">="} {low}, got {text}')
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = number_at_least(int, 0)
positive_int = number_at_least(int, 1)
non_negative_float = number_at_least(float, 0)
positive_float = number_at_least(float, 0, strict=True)
