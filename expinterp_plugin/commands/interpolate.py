"""`expinterp interpolate`: the medium exposure of a dark/bright pair with a trained network.

DARK and BRIGHT are two image files, or two folders whose images pair up in sorted name order
(OUTPUT is then a folder receiving ``<dark name>.png`` per pair). The helpers below are shared
with `expinterp fuse`.
"""
import time
from pathlib import Path

from expinterp_plugin.commands._common import (add_time_arguments, fail, non_negative_int,
                                               print_json, progress)
from expinterp_plugin.commands.y0 import pair_times

NAME = 'interpolate'
HELP = 'medium exposure of a dark/bright pair (or folders of pairs) with a trained network'

#: File types read from DARK/BRIGHT folders (what OpenCV decodes).
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.ppm', '.pgm', '.webp')
DEFAULT_TILE = 512
DEFAULT_TILE_PAD = 32


def add_pair_arguments(parser):
    """DARK BRIGHT -o OUTPUT, exposure times and target (as `expinterp y0`)."""
    parser.add_argument('dark', help='short exposure (8- or 16-bit image), or a folder of them')
    parser.add_argument('bright', help='long exposure, same size and bit depth, or a folder '
                        '(paired with DARK\'s files in sorted order)')
    parser.add_argument('-o', '--output', required=True,
                        help='output image (inputs\' bit depth), or a folder for folder inputs')
    add_time_arguments(parser)


def add_model_argument(container, required):
    """--model CKPT on a parser or a mutually exclusive group."""
    container.add_argument('--model', metavar='CKPT', required=required,
                           help='trained net_g checkpoint (BasicSR '
                           'experiments/NAME/models/*.pth)')


def add_network_arguments(parser):
    """--opt/--device/--tile/--tile-pad: how the --model network is built and run."""
    parser.add_argument('--opt', metavar='YML',
                        help='training option file of --model (default: the *.yml in the '
                        'experiment folder, CKPT/../../)')
    parser.add_argument('--device', default='cpu', help='torch device: cpu, cuda, cuda:1, ...')
    parser.add_argument('--tile', type=non_negative_int, default=DEFAULT_TILE, metavar='PX',
                        help=f'run the network in PX x PX tiles, 0 for the whole image at once '
                        f'(default {DEFAULT_TILE})')
    parser.add_argument('--tile-pad', type=non_negative_int, default=DEFAULT_TILE_PAD,
                        metavar='PX', help='context pixels around each tile '
                        f'(default {DEFAULT_TILE_PAD})')


def add_output_arguments(parser):
    parser.add_argument('--save-figure', metavar='PATH',
                        help='also write a comparison strip PNG to PATH and the CRF/IMF curves '
                        'to PATH_curves.png (a folder of them for folder inputs)')
    parser.add_argument('--json', action='store_true', help='print what was done as JSON')


def add_arguments(parser):
    add_pair_arguments(parser)
    add_model_argument(parser, required=True)
    add_network_arguments(parser)
    add_output_arguments(parser)


def image_files(folder):
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def input_pairs(dark, bright, output):
    """[(dark file, bright file, output path)] for two files or two folders.

    Folders pair their images in sorted name order (equal names pair with each other) and the
    output of each pair is ``OUTPUT/<dark stem>.png``.
    """
    dark, bright, output = Path(dark), Path(bright), Path(output)
    for path in (dark, bright):
        if not path.exists():
            raise FileNotFoundError(f'{path}: no such file or folder')
    if dark.is_file() and bright.is_file():
        return [(dark, bright, output)]
    if not (dark.is_dir() and bright.is_dir()):
        raise ValueError(f'{dark} and {bright}: give two image files or two folders')
    darks, brights = image_files(dark), image_files(bright)
    if not darks:
        raise ValueError(f'{dark}: no images ({", ".join(IMAGE_SUFFIXES)})')
    if len(darks) != len(brights):
        raise ValueError(f'{dark} holds {len(darks)} images but {bright} holds {len(brights)}: '
                         'folders must pair up one to one')
    if output.is_file():
        raise ValueError(f'{output}: is a file; folder inputs need an output folder')
    stems = [p.stem for p in darks]
    if len(set(stems)) != len(stems):
        raise ValueError(f'{dark}: several images share a name stem; their outputs would collide')
    return [(d, b, output / f'{d.stem}.png') for d, b in zip(darks, brights)]


def figure_path(save_figure, batch, output):
    """Where the strip of one pair goes: ``save_figure`` itself, or for folder inputs
    ``save_figure/<output stem>.png``; None without --save-figure."""
    if not save_figure:
        return None
    return Path(save_figure) / f'{Path(output).stem}.png' if batch else Path(save_figure)


def read_pair(dark_path, bright_path):
    """Both images (RGB uint8/uint16) after ``check_pair``; errors name the files."""
    from expinterp_plugin.exposure.io import read_image
    from expinterp_plugin.exposure.y0 import check_pair
    dark, bright = read_image(dark_path), read_image(bright_path)
    check_pair(dark, bright, str(dark_path), str(bright_path))
    return dark, bright


def tile_progress(args, batch):
    """Progress wrapper over tiles (hidden with --json and inside a batch)."""
    return lambda it, total: progress(it, total, 'tiles', args.json or batch)


def load_model(args):
    from expinterp_plugin.inference import load_interpolator
    return load_interpolator(args.model, opt=args.opt, device=args.device)


def model_settings(args, interpolator):
    return {'model': str(args.model), 'network': interpolator.name, 'mode': interpolator.mode,
            'device': args.device, 'tile': args.tile, 'tile_pad': args.tile_pad}


def interpolate_pair(args, interpolator, dark, bright, times, batch, keep_y0):
    """The model's ``Interpolation`` of one pair (float32 [0, 1] RGB output, y0, mapper)."""
    from expinterp_plugin.exposure.y0 import validate_times
    t_dark, t_bright = times[:2]
    t_target = validate_times(t_dark, t_bright, args.target)
    return interpolator.interpolate(dark, bright, t_dark, t_bright, crf=args.crf,
                                    t_target=t_target, tile=args.tile, tile_pad=args.tile_pad,
                                    progress=tile_progress(args, batch), keep_y0=keep_y0)


def pair_record(dark_path, bright_path, output, times, mapper, seconds, figures):
    """One pair's JSON record; ``times`` (t_dark, t_bright, source, ratio estimate or None) and
    ``mapper`` may be None (plain fusion of the pair needs neither)."""
    record = {'dark': str(dark_path), 'bright': str(bright_path), 'output': str(output)}
    if times is not None:
        record.update(t_dark=times[0], t_bright=times[1], times_from=times[2])
        if times[3] is not None:
            record['ratio_estimate'] = times[3]
    if mapper is not None:
        record.update(t_target=mapper.t_target, crf=mapper.crf.name)
    record.update(seconds=round(seconds, 3), figures=[str(p) for p in figures])
    return record


def report(args, summary):
    """Print the summary as JSON (--json) or one line per pair."""
    if args.json:
        print_json(summary)
        return
    for r in summary['pairs']:
        details = []
        if 't_dark' in r:
            details.append(f"t_dark {r['t_dark']:g} s, t_bright {r['t_bright']:g} s")
            if r['times_from'] == 'estimated ratio':
                details.append('times unknown: ratio estimated')
        if 't_target' in r:
            details.append(f"target {r['t_target']:g} s, crf {r['crf']}")
        details.append(f"{r['seconds']:.2f} s")
        print(f"wrote {r['output']}: {', '.join(details)}")
        for path in r['figures']:
            print(f'wrote {path}')


def for_each_pair(args, work):
    """Run ``work(dark_path, bright_path, output, batch) -> record`` over the input pairs with a
    progress bar; returns the records. Errors name the files involved."""
    pairs = input_pairs(args.dark, args.bright, args.output)
    batch = Path(args.dark).is_dir()
    return [work(d, b, out, batch)
            for d, b, out in progress(pairs, len(pairs), 'pairs', args.json or not batch)]


def run(args):
    from expinterp_plugin.exposure.io import ImageError, to_dtype, write_image
    from expinterp_plugin.figures import save_figures

    def work(dark_path, bright_path, output, batch):
        started = time.perf_counter()
        dark, bright = read_pair(dark_path, bright_path)
        times = pair_times(args, dark_path, bright_path, dark, bright)
        figure = figure_path(args.save_figure, batch, output)
        result = interpolate_pair(args, interpolator, dark, bright, times, batch,
                                  keep_y0=figure is not None)
        write_image(output, to_dtype(result.output, dark.dtype))
        figures = []
        if figure is not None:
            figures = save_figures(figure, [('dark', dark), ('y0', result.y0),
                                            ('output', result.output), ('bright', bright)],
                                   result.mapper)
        return pair_record(dark_path, bright_path, output, times, result.mapper,
                           time.perf_counter() - started, figures)

    try:
        interpolator = load_model(args)
        records = for_each_pair(args, work)
    except (ImageError, ValueError, OSError) as err:
        return fail(str(err))
    report(args, dict(model_settings(args, interpolator), pairs=records))
    return 0
