"""Helpers shared by the subcommands (not a subcommand: the leading underscore hides it)."""
import argparse
import json
import sys
from pathlib import Path


def progress(iterable, total=None, desc=None, disable=False):
    """tqdm progress bar on stderr (hidden when ``disable``, e.g. with --json)."""
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, leave=False)


def print_json(obj):
    print(json.dumps(obj, indent=2, sort_keys=False))


def add_crf_argument(parser, default='pair'):
    parser.add_argument(
        '--crf', default=default, metavar='SPEC',
        help="camera response: 'pair' (estimate from the two inputs under the DoRF prior; "
        "'pair:polynomial' or 'pair:debevec' for the older estimators), 'srgb', 'gamma2.2', "
        "'linear', 'dorf:INDEX' (DoRF curve 0..200, needs --dorf), 'emor:C1,C2,...' (the "
        "packaged DoRF model's coefficients), or a .npy/.txt/.mat table file (e.g. from "
        f"`expinterp calibrate`) (default: {default})")
    parser.add_argument('--dorf', metavar='FILE', action=_DorfFile,
                        help='the DoRF dorf_201_crf.mat for --crf dorf:INDEX '
                        '(default: $EXPINTERP_DORF)')


class _DorfFile(argparse.Action):
    """--dorf FILE: put FILE in $EXPINTERP_DORF, where ``crf_prior.dorf_path`` looks for it."""

    def __call__(self, parser, namespace, values, option_string=None):
        import os
        from expinterp_plugin.exposure.crf_prior import DORF_ENV
        os.environ[DORF_ENV] = values
        setattr(namespace, self.dest, values)


def fail(message):
    """Print an error for the user and return the exit status 2."""
    print(f'expinterp: error: {message}', file=sys.stderr)
    return 2


def add_time_arguments(parser):
    """--times, --exposures, --target and --crf: how a pair's exposures are known."""
    parser.add_argument('--times', nargs=2, type=float, metavar=('T_DARK', 'T_BRIGHT'),
                        help='exposure times in seconds (default: EXIF, then --exposures, '
                        'else the ratio is estimated)')
    parser.add_argument('--exposures', metavar='FILE',
                        help='a "FILENAME SECONDS" list holding the inputs\' times')
    parser.add_argument('--target', type=float, help='target time (default sqrt(t_dark t_bright))')
    add_crf_argument(parser)


def number_at_least(kind, low, strict=False):
    """An argparse ``type``: ``kind(text)`` (int or float) that must be >= ``low`` (> with
    ``strict``); named like ``kind`` so argparse's "invalid int value" messages stay."""
    def parse(text):
        value = kind(text)
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f'must be {">" if strict else ">="} {low}, got {text}')
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = number_at_least(int, 0)
positive_int = number_at_least(int, 1)
non_negative_float = number_at_least(float, 0)
positive_float = number_at_least(float, 0, strict=True)


# --- pairs of images: `expinterp interpolate` and `expinterp fuse` ---------------------------

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


def image_files(folder):
    """Image files directly in ``folder``, sorted by name."""
    from expinterp_plugin.exposure.brackets import IMAGE_SUFFIXES
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def input_pairs(dark, bright, output):
    """[(dark file, bright file, output path)] for two files or two folders.

    Folders pair their images in sorted name order (equal names pair with each other) and the
    output of each pair is ``OUTPUT/<dark stem>.png``.
    """
    from expinterp_plugin.exposure.brackets import IMAGE_SUFFIXES
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


def tile_progress(args, batch):
    """Progress wrapper over tiles (hidden with --json and inside a batch)."""
    return lambda it, total: progress(it, total, 'tiles', args.json or batch)


def load_model(args):
    from expinterp_plugin.inference import load_interpolator
    return load_interpolator(args.model, opt=args.opt, device=args.device)


def model_settings(args, interpolator):
    return {'model': str(args.model), 'network': interpolator.name, 'mode': interpolator.mode,
            'device': args.device, 'tile': args.tile, 'tile_pad': args.tile_pad}


def read_args_pair(args, dark_path, bright_path):
    """The ``Pair`` of two files with the times, target and CRF of the arguments."""
    from expinterp_plugin.pair import read_pair
    return read_pair(dark_path, bright_path, args.times, args.exposures, args.target, args.crf)


def interpolate_pair(args, interpolator, pair, batch, keep_y0):
    """The model's ``Interpolation`` of one ``Pair`` (float32 [0, 1] RGB output, y0, mapper)."""
    return interpolator.interpolate_pair(pair, tile=args.tile, tile_pad=args.tile_pad,
                                         progress=tile_progress(args, batch), keep_y0=keep_y0)


def pair_record(dark_path, bright_path, output, times, mapper, seconds, figures):
    """One pair's JSON record (with the ratio estimate when the times were estimated);
    ``times`` (``pair.ExposureTimes``) and ``mapper`` may be None (plain fusion of the pair
    needs neither)."""
    record = {'dark': str(dark_path), 'bright': str(bright_path), 'output': str(output)}
    if times is not None:
        record.update(t_dark=times.t_dark, t_bright=times.t_bright, times_from=times.source)
        if times.estimate is not None:
            record['ratio_estimate'] = times.estimate_record()
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
