"""`expinterp y0`: the model-driven medium exposure of a dark/bright pair."""
from pathlib import Path

from expinterp_plugin.commands._common import (add_align_arguments, add_output_file_argument,
                                               add_quality_argument, add_time_arguments,
                                               add_y0_arguments, check_quality, cropped,
                                               describe_for, fail, motion_fields,
                                               prepare_image_output, prepare_output, print_json,
                                               print_pair_warnings, read_args_pair,
                                               reference_path, target_seconds, times_text,
                                               user_error_types, write_output)

NAME = 'y0'
HELP = 'model-driven medium exposure (CRF + intensity mapping functions) of a dark/bright pair'


def add_arguments(parser):
    parser.add_argument('dark', help='short exposure (8- or 16-bit image)')
    parser.add_argument('bright', help='long exposure, same size and bit depth')
    add_output_file_argument(parser, 'output image (inputs\' bit depth; .png or .tif for 16-bit)')
    add_quality_argument(parser)
    add_time_arguments(parser)
    add_align_arguments(parser)
    add_y0_arguments(parser)
    parser.add_argument('--save-crf', metavar='FILE',
                        help='also write the CRF used (.npy/.txt; an existing file is replaced)')
    parser.add_argument('--json', action='store_true', help='print what was done as JSON')


def run(args):
    from expinterp_plugin.exposure.crf import CRF_SUFFIXES, save_crf
    # A --crf table file is an input too: --save-crf must not replace it.
    crf_file = args.crf if args.crf and Path(args.crf).is_file() else None
    inputs = [p for p in (args.dark, args.bright, args.exposures, crf_file) if p]
    try:
        prepare_image_output(args.output, inputs)
        check_quality(args.quality, args.output)
        if args.save_crf:
            prepare_output(args.save_crf, inputs, CRF_SUFFIXES, others=[args.output])
        pair = read_args_pair(args, args.dark, args.bright, args.output)
        written = cropped(args, pair, pair.codes(pair.y0(args.xi_l, args.xi_u, args.imf)))
        write_output(args, args.output, written, reference_path(args, args.dark, args.bright),
                     target_seconds(pair))
        crf = pair.crf
        if args.save_crf:
            save_crf(crf, args.save_crf)
    except user_error_types() as err:
        return fail(describe_for(err, args.dark, args.bright))
    print_pair_warnings(pair)  # what the motion search found to warn of
    t_dark, t_bright, t_target, source = pair.t_dark, pair.t_bright, pair.t_target, \
        pair.times.source
    summary = {'output': args.output, 't_dark': t_dark, 't_bright': t_bright,
               't_target': t_target, 'times_from': source, 'crf': crf.name, 'imf': args.imf,
               'bit_depth': 8 * pair.dtype.itemsize, **motion_fields(pair, written)}
    estimate = pair.times.estimate_record()
    if estimate is not None:
        summary['ratio_estimate'] = estimate
    if args.json:
        print_json(summary)
    else:
        print(f'wrote {args.output}: {times_text(summary)}, target {t_target:g} s, '
              f'crf {crf.name}')
    return 0
