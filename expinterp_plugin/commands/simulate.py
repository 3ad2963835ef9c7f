"""`expinterp simulate`: realistic simulated brackets (real HDR radiance x DoRF responses x
noise x JPEG) in the triplet layout, for training and validating a refiner."""
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
#: The pair estimator needs some pixels: renders are at least this many on a side.
number_of_pixels = number_at_least(int, 32)
PROBABILITY = number_at_least(float, 0.0, high=1.0)


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
    add_dataset_output_arguments(parser, 'simulate')


def run(args):
    from expinterp_plugin.exposure.camera_sim import SimConfig, write_simulated_dataset
    config = SimConfig(size=args.size, ev=args.ev, iso=(1.0, args.iso_max),
                       jpeg_prob=args.jpeg_prob, shift_prob=args.shift_prob,
                       noise=not args.no_noise)
    try:
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
