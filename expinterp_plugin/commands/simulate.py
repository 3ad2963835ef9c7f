"""`expinterp simulate`: realistic simulated brackets (real HDR radiance x DoRF responses x
noise x JPEG) in the triplet layout, for training and validating a refiner."""
import argparse
import sys

from expinterp_plugin.commands._common import (add_dataset_output_arguments, describe, fail,
                                               lmdb_writer, non_negative_int, number_at_least,
                                               positive_float, positive_int, print_json,
                                               progress, user_error_types)

NAME = 'simulate'
HELP = ('render brackets of real HDR radiance maps through measured camera responses (DoRF), '
        'Poisson-Gaussian noise, 8-bit quantisation and JPEG into the triplet layout')

# Mirrors of camera_sim.SimConfig's defaults, so that building the parser imports no numpy
# (tests/test_camera_sim.py checks they agree).
DEFAULT_SIZE = 256
DEFAULT_EV = 4.0
DEFAULT_ISO_MAX = 16.0
DEFAULT_JPEG_PROB = 0.8
DEFAULT_SHIFT_PROB = 0.3
DEFAULT_CAMERA_ROTATION = 1.0
DEFAULT_MOTION_PROB = 0.5
DEFAULT_OBJECT_SHIFT_PERCENT = 15.0
DEFAULT_OBJECT_PROB = 0.5
#: Largest camera shake / object displacement, fraction of the render side: beyond a quarter
#: the frames of a shaken sample would overlap too little to be aligned.
MAX_DISPLACEMENT = 0.25
#: The pair estimator needs some pixels: renders are at least this many on a side.
number_of_pixels = number_at_least(int, 32)
PROBABILITY = number_at_least(float, 0.0, high=1.0)


def displacement(text):
    """argparse type: 'N%' (of the render side) or 'N' / 'Npx' (pixels), N finite and >= 0 ->
    ('%' or 'px', N); a percentage must be at most ``MAX_DISPLACEMENT`` (pixels are checked
    against --size in ``run``)."""
    body, unit = (text[:-1], '%') if text.endswith('%') else \
        (text[:-2], 'px') if text.endswith('px') else (text, 'px')
    try:
        value = float(body)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage of the side such as 2% or "
                                         f"pixels such as 5 or 5px, got {text!r}") from None
    if not (value >= 0 and value < float('inf')):
        raise argparse.ArgumentTypeError(f'must be a finite number >= 0, got {text!r}')
    if unit == '%' and value > 100 * MAX_DISPLACEMENT:
        raise argparse.ArgumentTypeError(f'must be <= {100 * MAX_DISPLACEMENT:g}%, got {text!r}')
    return unit, value


def side_fraction(option, spec, size):
    """A ``displacement`` value as a fraction of the render side ``size``; ValueError (one
    line naming ``option``) above ``MAX_DISPLACEMENT``."""
    unit, value = spec
    fraction = value / 100.0 if unit == '%' else value / size
    if fraction > MAX_DISPLACEMENT:
        raise ValueError(f'{option} {value:g}px: more than {100 * MAX_DISPLACEMENT:g}% of '
                         f'--size {size}')
    return fraction


def add_arguments(parser):
    parser.add_argument('dst', help='output root (must not exist or be empty)')
    parser.add_argument('--radiance', required=True, metavar='DIR',
                        help='folder of .hdr (and, with the OpenEXR package, .exr) radiance maps')
    parser.add_argument('--dorf', required=True, metavar='MAT',
                        help="DoRF responses (Grossberg & Nayar's dorf_201_crf.mat: I and B)")
    parser.add_argument('--split', choices=('train', 'val'), default='train',
                        help='DoRF curves: train (i %% 3 != 2) or the held-out val (i %% 3 == 2)')
    parser.add_argument('--samples', type=positive_int, default=1000, help='brackets to render')
    parser.add_argument('--seed', type=non_negative_int, default=0,
                        help='sample i draws from default_rng([seed, i]) (default %(default)s)')
    parser.add_argument('--size', type=number_of_pixels, default=DEFAULT_SIZE,
                        help='square render side in pixels (default %(default)s)')
    parser.add_argument('--ev', type=positive_float, default=DEFAULT_EV,
                        help='stops between dark and bright (default %(default)s)')
    parser.add_argument('--iso-max', type=number_at_least(float, 1.0), default=DEFAULT_ISO_MAX,
                        help='largest ISO-like gain over base, log-uniform from 1 '
                        '(default %(default)s)')
    parser.add_argument('--jpeg-prob', type=PROBABILITY, default=DEFAULT_JPEG_PROB,
                        help='probability of JPEG (quality 70-98), else lossless '
                        '(default %(default)s)')
    parser.add_argument('--shift-prob', type=PROBABILITY, default=DEFAULT_SHIFT_PROB,
                        help='probability of sub-pixel misalignment (default %(default)s)')
    parser.add_argument('--no-noise', action='store_true', help='noise-free renders')
    parser.add_argument('--camera-motion', type=displacement, default=('px', 0.0),
                        metavar='SHIFT',
                        help='handheld camera: shake the dark and bright frame relative to the '
                        'middle one (the reference, which keeps the scene geometry) by a seeded '
                        'similarity of the radiance with a shift up to SHIFT (2%% of the side, '
                        'or pixels: 5 or 5px) and a rotation up to --camera-rotation '
                        '(default: off)')
    parser.add_argument('--camera-rotation', type=number_at_least(float, 0.0, high=10.0),
                        default=DEFAULT_CAMERA_ROTATION, metavar='DEG',
                        help='max rotation of the camera shake, degrees (default %(default)s)')
    parser.add_argument('--motion-prob', type=PROBABILITY, default=DEFAULT_MOTION_PROB,
                        help='probability that a sample is shaken (default %(default)s)')
    parser.add_argument('--moving-objects', type=number_at_least(int, 0, high=16), default=0,
                        metavar='N',
                        help='N blocks/discs of the radiance that move between the frames '
                        '(seeded; the middle frame shows them where they are; default: none)')
    parser.add_argument('--object-shift', type=displacement,
                        default=('%', DEFAULT_OBJECT_SHIFT_PERCENT), metavar='SHIFT',
                        help='max displacement of a moving object (%% of the side or pixels; '
                        f'default {DEFAULT_OBJECT_SHIFT_PERCENT:g}%%)')
    parser.add_argument('--object-prob', type=PROBABILITY, default=DEFAULT_OBJECT_PROB,
                        help='probability that a sample has the moving objects '
                        '(default %(default)s)')
    add_dataset_output_arguments(parser, 'simulate')


def run(args):
    from expinterp_plugin.exposure.camera_sim import SimConfig, write_simulated_dataset
    try:
        config = SimConfig(
            size=args.size, ev=args.ev, iso=(1.0, args.iso_max), jpeg_prob=args.jpeg_prob,
            shift_prob=args.shift_prob, noise=not args.no_noise,
            camera_motion=side_fraction('--camera-motion', args.camera_motion, args.size),
            camera_rotation=args.camera_rotation, motion_prob=args.motion_prob,
            moving_objects=args.moving_objects,
            object_shift=side_fraction('--object-shift', args.object_shift, args.size),
            object_prob=args.object_prob)
        summary = write_simulated_dataset(
            args.dst, args.radiance, args.dorf, split=args.split, samples=args.samples,
            seed=args.seed, config=config, workers=args.workers,
            lmdb_writer=lmdb_writer(args),
            overwrite=args.overwrite,
            progress=lambda it, total: progress(it, total, 'chunks', disable=args.quiet))
    except user_error_types() as err:
        return fail(describe(err))
    if summary['skipped']:
        print(f"expinterp simulate: skipped {len(summary['skipped'])} .exr files (pip install "
              "OpenEXR to read them)", file=sys.stderr)
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['samples']} {summary['split']} brackets ({summary['curves']} DoRF "
              f"curves, {summary['radiance_files']} radiance maps) to {summary['root']} in "
              f"{summary['seconds']} s ({summary['samples_per_s']} samples/s)")
    return 0
