"""`expinterp fuse`: interpolate the medium exposure, then fuse it with the pair.

The middle frame is the model-driven y0, or a trained network's output with --model. How it is
fused (--fusion, ``expinterp_plugin.fusion``): ``coarse-middle`` (default) takes the fine scales
from Mertens' fusion of the pair and the coarse ones, where the scene's brightness order lives,
from the fusion with the middle frame, which is computed on a reduced copy of the pair;
``three-frame`` is the paper's Mertens of (bright, middle, dark) (--imf-only: with y0);
``pair`` plain Mertens of the two inputs (--pair-only), the baseline whose brightness-order
reversal and halos the middle frame is meant to remove. Inputs and outputs as `expinterp
interpolate`.
"""
import functools
import time

from expinterp_plugin.commands._common import (
    add_model_argument, add_network_arguments, add_output_arguments, add_pair_arguments,
    add_y0_arguments, cropped, describe, fail, figure_path, for_each_pair, interpolate_pair,
    load_model, model_settings, motion_fields, pair_record, planned_pairs, print_pair_warnings,
    print_warning, read_args_pair, reference_path, report, user_error_types, write_output)

NAME = 'fuse'
HELP = ('fuse a dark/bright pair with their interpolated medium exposure (y0, or a trained '
        'model\'s output)')
# The application's fusion.FUSION_METHODS, repeated so that building the parser stays cheap.
FUSIONS = ('coarse-middle', 'three-frame', 'pair')


def add_arguments(parser):
    add_pair_arguments(parser)
    middle = parser.add_mutually_exclusive_group()
    add_model_argument(middle, required=False)
    middle.add_argument('--imf-only', action='store_true',
                        help='the paper\'s three-frame fusion with y0 (= --fusion three-frame)')
    middle.add_argument('--pair-only', action='store_true',
                        help='no middle frame: plain Mertens of the two inputs (= --fusion pair)')
    parser.add_argument('--fusion', choices=FUSIONS, default=None,
                        help='coarse-middle (default): the pair\'s Mertens fusion at fine '
                        'scales, the fusion with the middle frame at coarse scales (keeps the '
                        'brightness order); three-frame: the paper\'s Mertens of (bright, '
                        'middle, dark); pair: Mertens of the two inputs')
    add_network_arguments(parser)
    add_y0_arguments(parser, imf_note=' (a --model uses its training settings)')
    add_output_arguments(parser)


def fusion_of(args):
    """The --fusion method, with --imf-only and --pair-only as its shorthands; ValueError for
    a shorthand that contradicts an explicit --fusion."""
    implied = 'three-frame' if args.imf_only else 'pair' if args.pair_only else None
    if implied and args.fusion not in (None, implied):
        flag = '--imf-only' if args.imf_only else '--pair-only'
        raise ValueError(f'{flag} means --fusion {implied}; it contradicts --fusion {args.fusion}')
    return args.fusion or implied or 'coarse-middle'


def middle_of(args, fusion):
    """Where the middle frame comes from: 'model', 'y0', or None for the pair alone."""
    if fusion == 'pair':
        return None
    return 'model' if args.model else 'y0'


def run(args):
    from expinterp_plugin.figures import save_figures
    from expinterp_plugin.fusion import fuse_pair
    from expinterp_plugin.pair import Pair
    try:
        fusion = fusion_of(args)
    except ValueError as err:
        return fail(describe(err))
    middle = middle_of(args, fusion)

    def middle_frame(batch, keep_y0):
        """The pair -> ``Interpolation`` of the model or y0; None without a middle frame."""
        if middle == 'model':
            return lambda pair: interpolate_pair(args, interpolator, pair, batch, keep_y0)
        if middle == 'y0':
            return functools.partial(Pair.model_driven, xi_l=args.xi_l, xi_u=args.xi_u,
                                     imf=args.imf)
        return None

    def work(dark_path, bright_path, output, batch):
        started = time.perf_counter()
        pair = read_args_pair(args, dark_path, bright_path, output)
        figure = figure_path(args.save_figure, batch, output)
        result = fuse_pair(pair, middle_frame(batch, figure is not None), figure is not None,
                           fusion)
        if result.fallback is not None:
            print_warning(f'{dark_path} + {bright_path}: no middle frame ({result.fallback}); '
                          'fused the pair alone')
        fused = cropped(args, pair, result.fused)
        write_output(args, output, fused, reference_path(args, dark_path, bright_path))
        figures = []
        if figure is not None:
            figures = save_figures(figure, figure_panels(pair, result, middle), result.mapper)
        record = pair_record(dark_path, bright_path, output, result.times, result.mapper,
                             time.perf_counter() - started, figures)
        if middle is not None:
            record.update(middle_level=result.level, fallback=result.fallback)
        print_pair_warnings(pair)  # what the motion search found to warn of
        record.update(motion_fields(pair, fused))
        return record

    try:
        pairs = planned_pairs(args)
        interpolator = load_model(args) if middle == 'model' else None
        records, failures = for_each_pair(args, pairs, work)
    except user_error_types() as err:
        return fail(describe(err))
    settings = {'method': middle or 'none', 'fusion': fusion}
    if interpolator is not None:
        settings.update(model_settings(args, interpolator))
    return report(args, dict(settings, pairs=records, failed=failures))


def figure_panels(pair, result, middle):
    """The strip's (label, RGB codes) panels: dark, y0, the network's output, bright, fused;
    a middle frame made on a reduced copy is shown enlarged to the pair's size."""
    from expinterp_plugin.figures import motion_panel
    panels = [('dark', pair.dark)]
    if result.y0 is not None:
        panels.append(('y0', enlarged(result.y0, pair.dark.shape)))
    if middle == 'model' and result.middle is not None:
        panels.append(('output', enlarged(result.middle, pair.dark.shape)))
    panels += [('bright', pair.bright), ('fused', result.fused)]
    motion = motion_panel(pair)
    return panels if motion is None else panels + [motion]


def enlarged(img, shape):
    """``img`` resized (bilinear) to ``shape``'s height and width; returned as it is when it
    has them already."""
    import cv2
    if img.shape[:2] == shape[:2]:
        return img
    return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
