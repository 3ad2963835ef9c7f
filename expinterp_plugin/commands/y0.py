"""`expinterp y0`: the model-driven medium exposure of a dark/bright pair."""
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


def run(args):
    from expinterp_plugin.exposure.crf import save_crf
    from expinterp_plugin.exposure.io import ImageError, write_image
    from expinterp_plugin.pair import read_pair
    try:
        pair = read_pair(args.dark, args.bright, args.times, args.exposures, args.target, args.crf)
        write_image(args.output, pair.codes(pair.y0(args.xi_l, args.xi_u, args.imf)))
        crf = pair.crf
        if args.save_crf:
            save_crf(crf, args.save_crf)
    except (ImageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    t_dark, t_bright, t_target, source = pair.t_dark, pair.t_bright, pair.t_target, \
        pair.times.source
    summary = {'output': args.output, 't_dark': t_dark, 't_bright': t_bright,
               't_target': t_target, 'times_from': source, 'crf': crf.name, 'imf': args.imf,
               'bit_depth': 8 * pair.dtype.itemsize}
    estimate = pair.times.estimate_record()
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
