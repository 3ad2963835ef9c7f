"""`expinterp interpolate`: the medium exposure of a dark/bright pair with a trained network.

DARK and BRIGHT are two image files, or two folders whose images pair up in sorted name order
(OUTPUT is then a folder receiving ``<dark name>.png`` per pair; a pair that fails is reported
and the batch goes on, ending with a summary and exit status 2). The argument and pair helpers
it shares with `expinterp fuse` live in ``commands._common``.
"""
import time

from expinterp_plugin.commands._common import (
    add_model_argument, add_network_arguments, add_output_arguments, add_pair_arguments, describe,
    cropped, fail, figure_path, for_each_pair, interpolate_pair, load_model, model_settings,
    motion_fields, pair_record, planned_pairs, print_pair_warnings, read_args_pair,
    reference_path, report, target_seconds, user_error_types, write_output)

NAME = 'interpolate'
HELP = 'medium exposure of a dark/bright pair (or folders of pairs) with a trained network'


def add_arguments(parser):
    add_pair_arguments(parser)
    add_model_argument(parser, required=True)
    add_network_arguments(parser)
    add_output_arguments(parser)


def run(args):
    from expinterp_plugin.figures import motion_panel, save_figures

    def work(dark_path, bright_path, output, batch):
        started = time.perf_counter()
        pair = read_args_pair(args, dark_path, bright_path, output)
        figure = figure_path(args.save_figure, batch, output)
        result = interpolate_pair(args, interpolator, pair, batch, keep_y0=figure is not None)
        written = cropped(args, pair, pair.codes(result.output))
        write_output(args, output, written, reference_path(args, dark_path, bright_path),
                     target_seconds(pair))
        figures = []
        if figure is not None:
            panels = [('dark', pair.dark), ('y0', result.y0), ('output', result.output),
                      ('bright', pair.bright)]
            motion = motion_panel(pair)
            figures = save_figures(figure, panels if motion is None else panels + [motion],
                                   result.mapper)
        record = pair_record(dark_path, bright_path, output, pair.times, result.mapper,
                             time.perf_counter() - started, figures)
        print_pair_warnings(pair)  # what the motion search found to warn of
        record.update(motion_fields(pair, written))
        return record

    try:
        pairs = planned_pairs(args)
        interpolator = load_model(args)
        records, failures = for_each_pair(args, pairs, work)
    except user_error_types() as err:
        return fail(describe(err))
    return report(args, dict(model_settings(args, interpolator), pairs=records, failed=failures))
