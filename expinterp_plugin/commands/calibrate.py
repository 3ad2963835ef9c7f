"""`expinterp calibrate`: a camera's CRF from one whole bracket, to reuse with --crf FILE."""
from expinterp_plugin.commands._common import (add_output_file_argument, add_quiet_argument,
                                               describe, fail, positive_int, prepare_output,
                                               print_json, progress, user_error_types)

NAME = 'calibrate'
HELP = ('estimate a camera response from every exposure of one bracket folder and save it '
        '(reuse it for later pairs of that camera with --crf FILE)')


def add_arguments(parser):
    parser.add_argument('scene_dir', help='bracket folder (times from exposures.txt or EXIF)')
    add_output_file_argument(parser, 'CRF table file (.npy or .txt)')
    parser.add_argument('--method', choices=('auto', 'emor', 'polynomial', 'debevec'),
                        default='auto',
                        help="estimator; 'auto' (default) tries each and keeps the one that "
                        "best predicts every frame from its neighbours (leave-one-frame-out)")
    parser.add_argument('--max-side', type=positive_int,
                        help='downscale frames (INTER_AREA) first')
    parser.add_argument('--json', action='store_true', help='print a JSON summary')
    add_quiet_argument(parser)


def run(args):
    from expinterp_plugin.exposure.brackets import bracket_exposures
    from expinterp_plugin.exposure.crf import CRF_SUFFIXES, save_crf
    from expinterp_plugin.exposure.estimate import calibrate_bracket
    from expinterp_plugin.exposure.io import read_image
    from expinterp_plugin.exposure.prepare import resize_max_side
    from pathlib import Path
    try:
        frames = bracket_exposures(args.scene_dir)
        prepare_output(args.output, [p for p, _ in frames] + [Path(args.scene_dir) /
                                                              'exposures.txt'], CRF_SUFFIXES)
        images = [resize_max_side(read_image(p), args.max_side)
                  for p, _ in progress(frames, len(frames), 'reading', args.quiet)]
        methods = None if args.method == 'auto' else [args.method]
        crf, method, scores = calibrate_bracket(
            images, [t for _, t in frames], methods,
            progress=lambda steps, total: progress(steps, total, 'fitting', args.quiet))
        save_crf(crf, args.output)
    except user_error_types() as err:
        return fail(describe(err))
    summary = {'output': args.output, 'frames': len(frames), 'method': method,
               'leave_one_out_psnr': {m: round(v, 3) for m, v in scores.items()},
               'levels': crf.levels, 'times': [t for _, t in frames]}
    if args.json:
        print_json(summary)
    else:
        print(f'wrote {args.output}: {method} CRF from {len(frames)} exposures')
    return 0
