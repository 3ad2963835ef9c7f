"""`expinterp fuse`: interpolate the medium exposure, then Mertens-fuse it with the pair.

The fused image is Mertens exposure fusion of (bright, middle, dark) where the middle frame is
the trained network's output (--model), the model-driven y0 (--imf-only), or absent
(--pair-only: plain Mertens of the two inputs, the baseline whose brightness-order reversal and
halos the middle frame is meant to remove). Inputs and outputs as `expinterp interpolate`.
"""
import functools
import time

from expinterp_plugin.commands._common import (
    add_model_argument, add_network_arguments, add_output_arguments, add_pair_arguments,
    add_y0_arguments, describe, fail, figure_path, for_each_pair, interpolate_pair, load_model,
    model_settings, pair_record, planned_pairs, read_args_pair, report, user_error_types)

NAME = 'fuse'
HELP = ('Mertens fusion of a dark/bright pair with the interpolated medium exposure (trained '
        'model, y0 alone, or none)')


def add_arguments(parser):
    add_pair_arguments(parser)
    middle = parser.add_mutually_exclusive_group(required=True)
    add_model_argument(middle, required=False)
    middle.add_argument('--imf-only', action='store_true',
                        help='middle frame = the model-driven y0 (no network, no torch)')
    middle.add_argument('--pair-only', action='store_true',
                        help='no middle frame: plain Mertens of the two inputs')
    add_network_arguments(parser)
    add_y0_arguments(parser, '--imf-only', imf_note=' (a --model uses its training settings)')
    add_output_arguments(parser)


def method_of(args):
    return 'model' if args.model else 'imf-only' if args.imf_only else 'pair-only'


def run(args):
    from expinterp_plugin.exposure.io import write_image
    from expinterp_plugin.figures import save_figures
    from expinterp_plugin.fusion import fuse_pair
    from expinterp_plugin.pair import Pair
    method = method_of(args)

    def middle_frame(batch, keep_y0):
        """The pair -> ``Interpolation`` of --model/--imf-only; None for --pair-only."""
        if method == 'model':
            return lambda pair: interpolate_pair(args, interpolator, pair, batch, keep_y0)
        if method == 'imf-only':
            return functools.partial(Pair.model_driven, xi_l=args.xi_l, xi_u=args.xi_u,
                                     imf=args.imf)
        return None

    def work(dark_path, bright_path, output, batch):
        started = time.perf_counter()
        pair = read_args_pair(args, dark_path, bright_path, output)
        figure = figure_path(args.save_figure, batch, output)
        result = fuse_pair(pair, middle_frame(batch, figure is not None), figure is not None)
        write_image(output, result.fused)
        figures = []
        if figure is not None:
            panels = [('dark', pair.dark)]
            if method != 'pair-only':
                panels.append(('y0', result.y0))
            if method == 'model':
                panels.append(('output', result.middle))
            panels += [('bright', pair.bright), ('fused', result.fused)]
            figures = save_figures(figure, panels, result.mapper)
        times = None if method == 'pair-only' else pair.times
        return pair_record(dark_path, bright_path, output, times, result.mapper,
                           time.perf_counter() - started, figures)

    try:
        pairs = planned_pairs(args)
        interpolator = load_model(args) if method == 'model' else None
        records, failures = for_each_pair(args, pairs, work)
    except user_error_types() as err:
        return fail(describe(err))
    settings = {'method': method}
    if interpolator is not None:
        settings.update(model_settings(args, interpolator))
    return report(args, dict(settings, pairs=records, failed=failures))
