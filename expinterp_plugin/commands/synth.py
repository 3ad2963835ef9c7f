"""``expinterp synth DST``: write the built-in synthetic exposure-triplet data set."""
import argparse
import sys

from expinterp_plugin.commands._common import (add_quiet_argument, describe, fail,
                                               non_negative_float, non_negative_int,
                                               positive_float, positive_int, user_error_types)

# Mirrors of expinterp_plugin.exposure.synth's defaults, so that building the parser does not
# import the numeric core (tests/test_synth.py checks they agree).
DEFAULT_SCENES = 24
DEFAULT_VAL_SCENES = 4
DEFAULT_SIZE = (256, 256)
DEFAULT_EV = 4.0
DEFAULT_SHOT_NOISE = 1e-4
DEFAULT_READ_NOISE = 5e-4

NAME = 'synth'
HELP = ('Render procedural HDR scenes into dark/mid/bright brackets with the triplet layout '
        '(DST/{train,val}/{low,mid,high}/NAME.png, exposures.txt, crf/NAME.npy).')


def _size(text):
    """'WxH' -> (width, height) for argparse."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WxH such as 256x256, got {text!r}') from None
    if width < 8 or height < 8:
        raise argparse.ArgumentTypeError(f'size must be at least 8x8, got {text!r}')
    return width, height


def add_arguments(parser):
    parser.add_argument('dst', metavar='DST', help='output folder (created; must be empty '
                        'unless --overwrite)')
    parser.add_argument('--scenes', type=positive_int, default=DEFAULT_SCENES,
                        help='training scenes (default %(default)s)')
    parser.add_argument('--val-scenes', type=non_negative_int, default=DEFAULT_VAL_SCENES,
                        help='validation scenes (default %(default)s)')
    parser.add_argument('--size', type=_size, default=DEFAULT_SIZE, metavar='WxH',
                        help='frame size in pixels (default %dx%d)' % DEFAULT_SIZE)
    parser.add_argument('--seed', type=non_negative_int, default=0,
                        help='base seed; scene i uses seed + i (default %(default)s)')
    parser.add_argument('--ev', type=positive_float, default=DEFAULT_EV,
                        help='stops between the dark and the bright frame (default %(default)s)')
    parser.add_argument('--bit-depth', type=int, choices=(8, 16), default=8,
                        help='PNG bit depth (default %(default)s)')
    parser.add_argument('--shot-noise', type=non_negative_float,
                        default=DEFAULT_SHOT_NOISE,
                        help='shot-noise variance per unit signal, 1/full-well electrons '
                             '(default %(default)s)')
    parser.add_argument('--read-noise', type=non_negative_float,
                        default=DEFAULT_READ_NOISE,
                        help='read-noise standard deviation in units of full well '
                             '(default %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into a non-empty DST, replacing earlier generated scenes')
    parser.add_argument('--json', action='store_true', help='print a JSON summary to stdout')
    add_quiet_argument(parser)


def run(args):
    from expinterp_plugin.exposure import synth

    try:
        summary = synth.write_synthetic_dataset(
            args.dst, scenes=args.scenes, val_scenes=args.val_scenes, size=args.size,
            seed=args.seed, ev=args.ev, bit_depth=args.bit_depth, shot_noise=args.shot_noise,
            read_noise=args.read_noise, overwrite=args.overwrite,
            progress=not args.quiet and sys.stderr.isatty())
    except user_error_types() as error:
        return fail(describe(error))
    if args.json:
        print(synth.summary_json(summary))
    else:
        width, height = summary['size']
        print(f"wrote {summary['splits']['train']['scenes']} train + "
              f"{summary['splits']['val']['scenes']} val scenes ({width}x{height}, "
              f"{summary['ev']:g} EV, {summary['bit_depth']}-bit) to {summary['dst']} in "
              f"{summary['seconds']:.1f} s; mid median code {summary['mid_median']['mean']:.1f}, "
              f"bright clipped {100 * summary['high_clipped']['mean']:.0f} %, "
              f"dark near-black {100 * summary['low_black']['mean']:.0f} %")
    return 0
