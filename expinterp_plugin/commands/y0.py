"""`expinterp y0`: the model-driven medium exposure of a dark/bright pair."""
from pathlib import Path

from expinterp_plugin.commands._common import add_time_arguments, fail, print_json

NAME = 'y0'
HELP = 'model-driven medium exposure (CRF + intensity mapping functions) of a dark/bright pair'


def add_arguments(parser):
    parser.add_argument('dark', help='short exposure (8- or 16-bit image)')
    parser.add_argument('bright', help='long exposure, same size and bit depth')
    parser.add_argument('-o', '--output', required=True, help='output image (inputs\' bit depth)')
    add_time_arguments(parser)
    parser.add_argument('--imf', choices=('linear', 'sigmoid'), default='linear',
                        help='F by linear interpolation (proposed) or double-sigmoid fit')
    parser.add_argument('--xi-l', type=float, default=10, help='dark weight threshold xi_L')
    parser.add_argument('--xi-u', type=float, default=250, help='bright weight threshold xi_U')
    parser.add_argument('--save-crf', metavar='FILE', help='also write the CRF used (.npy/.txt)')
    parser.add_argument('--json', action='store_true', help='print what was done as JSON')


def exposure_times(args):
    """(t_dark, t_bright, source) from --times, EXIF, --exposures; None when unknown."""
    from expinterp_plugin.exposure.io import exif_exposure_time, read_table
    if args.times:
        return args.times[0], args.times[1], 'arguments'
    exif = [exif_exposure_time(p) for p in (args.dark, args.bright)]
    if all(exif):
        return exif[0], exif[1], 'exif'
    if args.exposures:
        table = read_table(args.exposures, 1)
        names = [Path(p).name for p in (args.dark, args.bright)]
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f'{args.exposures}: no time for {", ".join(missing)}')
        return table[names[0]][0], table[names[1]][0], 'exposures file'
    return None


def pair_times(args, dark_path, bright_path, dark, bright):
    """(t_dark, t_bright, source, estimate): --times, EXIF, --exposures, else t_dark = 1 and
    t_bright the ratio estimated from the images (``estimate_pair_exposure``: jointly with the
    response under the DoRF prior when the CRF is to be estimated, under --crf otherwise);
    ``estimate`` is None or the JSON fields of that estimate."""
    import argparse
    import math
    from expinterp_plugin.exposure.crf import resolve_crf
    from expinterp_plugin.exposure.estimate import estimate_pair_exposure
    times = exposure_times(argparse.Namespace(dark=str(dark_path), bright=str(bright_path),
                                              times=args.times, exposures=args.exposures))
    if times is not None:
        return times + (None,)
    levels = 256 if dark.dtype.itemsize == 1 else 65536
    known = None if str(args.crf).startswith('pair') else resolve_crf(args.crf, levels)
    found = estimate_pair_exposure(dark, bright, crf=known)
    estimate = {'ratio': round(found.ratio, 4), 'ev': round(math.log2(found.ratio), 3),
                'confidence': round(found.confidence, 3),
                'std_ev': round(found.std_ev, 3) if math.isfinite(found.std_ev) else None,
                'method': found.method}
    return 1.0, found.ratio, 'estimated ratio', estimate


def run(args):
    from expinterp_plugin.exposure.crf import save_crf
    from expinterp_plugin.exposure.io import ImageError, read_image, to_dtype, write_image
    from expinterp_plugin.exposure.y0 import (Y0Mapper, check_pair, resolve_pair_crf,
                                              validate_times)
    try:
        dark, bright = read_image(args.dark), read_image(args.bright)
        check_pair(dark, bright, args.dark, args.bright)
        times = pair_times(args, args.dark, args.bright, dark, bright)
        t_dark, t_bright, source, estimate = times
        t_target = validate_times(t_dark, t_bright, args.target)
        crf = resolve_pair_crf(args.crf, dark, bright, t_dark, t_bright)
        y0 = Y0Mapper(crf, t_dark, t_bright, t_target, args.xi_l, args.xi_u, args.imf)(dark, bright)
        write_image(args.output, to_dtype(y0, dark.dtype))
        if args.save_crf:
            save_crf(crf, args.save_crf)
    except (ImageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    summary = {'output': args.output, 't_dark': t_dark, 't_bright': t_bright,
               't_target': t_target, 'times_from': source, 'crf': crf.name, 'imf': args.imf,
               'bit_depth': 8 * dark.dtype.itemsize}
    if estimate is not None:
        summary['ratio_estimate'] = estimate
    if args.json:
        print_json(summary)
    else:
        note = (f" (times unknown: ratio estimated from the images, {estimate['ev']:g} EV, "
                f"confidence {estimate['confidence']:g})") if estimate else ''
        print(f'wrote {args.output}: t_dark {t_dark:g} s, t_bright {t_bright:g} s, target '
              f'{t_target:g} s, crf {crf.name}{note}')
    return 0
