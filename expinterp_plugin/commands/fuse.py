"""`expinterp fuse`: interpolate the medium exposure, then Mertens-fuse it with the pair.

The fused image is Mertens exposure fusion of (bright, middle, dark) where the middle frame is
the trained network's output (--model), the model-driven y0 (--imf-only), or absent
(--pair-only: plain Mertens of the two inputs, the baseline whose brightness-order reversal and
halos the middle frame is meant to remove). Inputs and outputs as `expinterp interpolate`.
"""
import time

from expinterp_plugin.commands._common import fail
from expinterp_plugin.commands.y0 import pair_times
from expinterp_plugin.commands.interpolate import (
    add_model_argument, add_network_arguments, add_output_arguments, add_pair_arguments,
    figure_path, for_each_pair, interpolate_pair, load_model, model_settings, pair_record,
    read_pair, report)

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
    parser.add_argument('--imf', choices=('linear', 'sigmoid'), default='linear',
                        help='--imf-only: F by linear interpolation (proposed) or double-sigmoid '
                        'fit (a --model uses its training settings)')
    parser.add_argument('--xi-l', type=float, default=10,
                        help='--imf-only: dark weight threshold xi_L (default 10)')
    parser.add_argument('--xi-u', type=float, default=250,
                        help='--imf-only: bright weight threshold xi_U (default 250)')
    add_output_arguments(parser)


def method_of(args):
    return 'model' if args.model else 'imf-only' if args.imf_only else 'pair-only'


def imf_mapper(args, dark, bright, times):
    """The Y0Mapper of --imf-only for one pair (CRF per --crf, thresholds per --xi-l/--xi-u)."""
    from expinterp_plugin.exposure.y0 import Y0Mapper, resolve_pair_crf, validate_times
    t_dark, t_bright = times[:2]
    t_target = validate_times(t_dark, t_bright, args.target)
    crf = resolve_pair_crf(args.crf, dark, bright, t_dark, t_bright)
    return Y0Mapper(crf, t_dark, t_bright, t_target, args.xi_l, args.xi_u, args.imf)


def run(args):
    from expinterp_plugin.exposure.fusion import mertens_fuse
    from expinterp_plugin.exposure.io import ImageError, to_dtype, write_image
    from expinterp_plugin.figures import save_figures
    method = method_of(args)

    def middle_frame(dark_path, bright_path, dark, bright, batch, keep_y0):
        """(middle float32 [0, 1] RGB, y0, mapper, times) of one pair for --model/--imf-only."""
        times = pair_times(args, dark_path, bright_path, dark, bright)
        if method == 'model':
            result = interpolate_pair(args, interpolator, dark, bright, times, batch, keep_y0)
            return result.output, result.y0, result.mapper, times
        mapper = imf_mapper(args, dark, bright, times)
        y0 = mapper(dark, bright)
        return y0, y0, mapper, times

    def work(dark_path, bright_path, output, batch):
        started = time.perf_counter()
        dark, bright = read_pair(dark_path, bright_path)
        figure = figure_path(args.save_figure, batch, output)
        if method == 'pair-only':
            fused = mertens_fuse([bright, dark])
            panels, mapper, times = [('dark', dark), ('bright', bright)], None, None
        else:
            middle, y0, mapper, times = middle_frame(dark_path, bright_path, dark, bright, batch,
                                                     figure is not None)
            # Only integer frames stay alive through the fusion, the memory peak of a large pair.
            middle = to_dtype(middle, dark.dtype)
            y0 = to_dtype(y0, dark.dtype) if figure is not None else None
            fused = mertens_fuse([bright, middle, dark])
            panels = [('dark', dark), ('y0', y0)]
            if method == 'model':
                panels.append(('output', middle))
            panels.append(('bright', bright))
        write_image(output, fused)
        figures = []
        if figure is not None:
            figures = save_figures(figure, panels + [('fused', fused)], mapper)
        return pair_record(dark_path, bright_path, output, times, mapper,
                           time.perf_counter() - started, figures)

    try:
        interpolator = load_model(args) if method == 'model' else None
        records = for_each_pair(args, work)
    except (ImageError, ValueError, OSError) as err:
        return fail(str(err))
    settings = {'method': method}
    if interpolator is not None:
        settings.update(model_settings(args, interpolator))
    report(args, dict(settings, pairs=records))
    return 0
