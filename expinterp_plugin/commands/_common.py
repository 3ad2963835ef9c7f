"""Helpers shared by the subcommands (not a subcommand: the leading underscore hides it).

The boundary checks live here, once for every command: argument bounds (argparse types), output
paths (``prepare_output``: refused when an input, a folder, unwritable or of the wrong type,
before any work), the torch device, and ``describe`` for the one-line error of any user error.
"""
import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path


def progress(iterable, total=None, desc=None, disable=False):
    """tqdm progress bar on stderr, hidden when ``disable`` (--quiet) and whenever stderr is not
    a terminal (a log file or a pipe gets no bar lines). Never on stdout: --json stays clean."""
    from tqdm import tqdm
    # tqdm's disable=None: hidden when the stream is not a TTY.
    return tqdm(iterable, total=total, desc=desc, disable=True if disable else None,
                file=sys.stderr, leave=False)


def add_quiet_argument(parser):
    """-q/--quiet: no progress bars (the commands that run for seconds or more show them)."""
    parser.add_argument('-q', '--quiet', action='store_true',
                        help='no progress bars on stderr (shown only on a terminal anyway)')


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


def print_error(message, kind='error'):
    """``expinterp: KIND: MESSAGE`` on stderr, on a line of its own even while a progress bar
    is drawn there (tqdm clears and redraws it)."""
    from tqdm import tqdm
    tqdm.write(f'expinterp: {kind}: {message}', file=sys.stderr)


def print_warning(message):
    """``expinterp: warning: MESSAGE`` on stderr (``print_error``)."""
    print_error(message, 'warning')


def fail(message):
    """Print an error for the user and return the exit status 2."""
    print_error(message)
    return 2


def user_error_types():
    """Exceptions that report a problem with the user's files or values (not a bug): shown as
    one ``expinterp: error:`` line, exit status 2. OpenCV's errors are among them: its
    calibration and fusion assert on inputs it cannot use (too few pixels for Debevec's grid)."""
    import cv2
    from expinterp_plugin.exposure.imf import SigmoidFitError
    return (ValueError, OSError, SigmoidFitError, cv2.error)


def describe(err):
    """One line for a user error; an OSError names its file (``PATH: Permission denied``)."""
    import cv2
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f'{err.filename}: {err.strerror}'
    if isinstance(err, cv2.error):
        return f'OpenCV cannot process the input ({getattr(err, "err", None) or "no detail"})'
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def describe_for(err, *paths):
    """``describe(err)``, prefixed with the input ``paths`` when it names none of them; a
    missing file (a CRF, a DoRF table, a list file) is named by its own error instead."""
    message = describe(err)
    if isinstance(err, FileNotFoundError) or any(str(p) in message for p in paths):
        return message
    return f'{" + ".join(map(str, paths))}: {message}'


def _same_file(a, b):
    """Whether two paths are one file or folder (through symlinks and hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_writable_folder(path):
    """Refuse ``path`` when the nearest existing folder on its way cannot take a new entry
    (read-only, no permission, or a file standing where a folder is needed)."""
    ancestor = Path(os.path.abspath(path)).parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f'{path}: cannot be created, {ancestor} is not a folder')
    try:
        with tempfile.TemporaryFile(dir=ancestor, prefix='.expinterp-probe-'):
            pass
    except OSError as err:
        raise ValueError(f'{path}: cannot write into {ancestor} ({err.strerror or err})') \
            from None


def prepare_output(path, inputs=(), suffixes=None, others=()):
    """Check an output file before any work, then remove leftovers of earlier killed writes of it.

    Refused: an existing folder, one of ``inputs`` (same file, also through symlinks or hard
    links), one of the command's ``others`` outputs, a suffix not in ``suffixes`` (when given),
    a place that cannot be written. An existing file is otherwise replaced (atomically).
    """
    from expinterp_plugin.exposure.io import remove_interrupted_writes
    path = Path(path)
    if path.is_dir():
        raise ValueError(f'{path}: is a folder; give a file name')
    for source in inputs:
        if _same_file(path, source):
            raise ValueError(f'{path}: is the input {source}; choose another output name')
    for other in others:
        if other is not None and os.path.abspath(other) == os.path.abspath(path):
            raise ValueError(f'{path}: given for two outputs; they would overwrite each other')
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ValueError(f'{path}: unknown file type {path.suffix!r} (use {" or ".join(suffixes)})')
    check_writable_folder(path)
    remove_interrupted_writes(path)


def prepare_image_output(path, inputs=(), dtype=None, others=()):
    """``prepare_output`` for an image: also a format OpenCV writes that holds ``dtype``."""
    from expinterp_plugin.exposure.io import check_image_output
    check_image_output(path, dtype)
    prepare_output(path, inputs, others=others)


def prepare_output_folder(path, input_folders=()):
    """Check an output folder (of a folder batch) before any work: not a file, none of the
    input folders (same folder, also through symlinks), and writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f'{path}: is a file; folder inputs need an output folder')
    for folder in input_folders:
        if _same_file(path, folder):
            raise ValueError(f'{path}: is the input folder {folder}; its images would be '
                             'replaced: choose another output folder')
    if not path.is_dir():
        check_writable_folder(path)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f'{path}: folder is not writable')


def check_device(device):
    """Refuse a torch device this machine does not have, before a model is loaded."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f'--device {device}: {err}') from None
    if dev.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f'--device {device}: no CUDA GPU is visible to torch '
                             f'{torch.__version__}; use --device cpu')
        if dev.index is not None and dev.index >= count:
            raise ValueError(f'--device {device}: only {count} CUDA GPU(s) visible')


def add_time_arguments(parser):
    """--times, --exposures, --target and --crf: how a pair's exposures are known."""
    parser.add_argument('--times', nargs=2, type=positive_float, metavar=('T_DARK', 'T_BRIGHT'),
                        help='exposure times in seconds (default: --exposures, then EXIF, '
                        'else the ratio is estimated)')
    parser.add_argument('--exposures', metavar='FILE',
                        help='a "FILENAME SECONDS" list holding the inputs\' times (wins over '
                        'EXIF)')
    parser.add_argument('--target', type=positive_float,
                        help='target time (default sqrt(t_dark t_bright))')
    add_crf_argument(parser)


def number_at_least(kind, low, strict=False, high=None):
    """An argparse ``type``: ``kind(text)`` (int or float) that must be finite and >= ``low``
    (> with ``strict``) and, with ``high``, <= ``high``; named like ``kind`` so argparse's
    "invalid int value" messages stay."""
    def parse(text):
        value = kind(text)
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'must be a finite number, got {text}')
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f'must be {">" if strict else ">="} {low}, got {text}')
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f'must be <= {high}, got {text}')
        return value
    parse.__name__ = kind.__name__
    return parse


non_negative_int = number_at_least(int, 0)
positive_int = number_at_least(int, 1)
non_negative_float = number_at_least(float, 0)
positive_float = number_at_least(float, 0, strict=True)


def add_output_file_argument(parser, what):
    """-o/--output FILE, required; ``what`` describes the file (its help says how an existing
    one is treated)."""
    parser.add_argument('-o', '--output', required=True,
                        help=f'{what}; an existing file is replaced (atomically), an input is '
                        'never overwritten')


def add_y0_arguments(parser, scope='', imf_note=''):
    """--imf, --xi-l, --xi-u: how y0 is computed; ``scope`` (e.g. '--imf-only') names the mode
    they apply to in their help, ``imf_note`` ends the help of --imf."""
    lead = f'{scope}: ' if scope else ''
    parser.add_argument('--imf', choices=('linear', 'sigmoid'), default='linear',
                        help=f'{lead}F by linear interpolation (proposed) or double-sigmoid '
                        f'fit{imf_note}')
    parser.add_argument('--xi-l', type=non_negative_float, default=10,
                        help=f'{lead}dark weight threshold xi_L (default 10)')
    parser.add_argument('--xi-u', type=non_negative_float, default=250,
                        help=f'{lead}bright weight threshold xi_U (default 250)')


# --- pairs of images: `expinterp interpolate` and `expinterp fuse` ---------------------------

DEFAULT_TILE = 512
DEFAULT_TILE_PAD = 32


def add_pair_arguments(parser):
    """DARK BRIGHT -o OUTPUT, exposure times and target (as `expinterp y0`)."""
    parser.add_argument('dark', help='short exposure (8- or 16-bit image), or a folder of them')
    parser.add_argument('bright', help='long exposure, same size and bit depth, or a folder '
                        '(paired with DARK\'s files in sorted order)')
    add_output_file_argument(parser, 'output image (inputs\' bit depth; .png or .tif for '
                             '16-bit), or a folder for folder inputs')
    add_time_arguments(parser)
    add_align_arguments(parser)


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


def add_quality_argument(parser):
    """--quality Q: JPEG quality of the output image (default None: OpenCV's 95)."""
    parser.add_argument('--quality', type=number_at_least(int, 1, high=100), metavar='Q',
                        help='JPEG quality 1..100 of a .jpg/.jpeg output (default 95); higher '
                        'is larger and closer to the computed image')


def check_quality(quality, output):
    """Refuse --quality for an output that is not a JPEG file (folder batches write PNGs),
    before any work."""
    from expinterp_plugin.exposure.io import JPEG_SUFFIXES, image_suffix
    if quality is not None and (Path(output).is_dir() or image_suffix(output) not in JPEG_SUFFIXES):
        raise ValueError(f'--quality {quality}: {output} is not a JPEG output (.jpg or .jpeg; '
                         'folder inputs write PNG files)')


def add_output_arguments(parser):
    add_quality_argument(parser)
    parser.add_argument('--save-figure', metavar='PATH',
                        help='also write a comparison strip PNG to PATH and the CRF/IMF curves '
                        'to PATH_curves.png (a folder of them for folder inputs; existing files '
                        'are replaced)')
    parser.add_argument('--json', action='store_true', help='print what was done as JSON')
    add_quiet_argument(parser)


def image_files(folder):
    """Image files directly in ``folder`` (hidden ones, e.g. macOS ._ files, left out), sorted
    by name."""
    from expinterp_plugin.exposure.brackets import is_image
    return sorted(p for p in Path(folder).iterdir() if is_image(p))


def input_pairs(dark, bright, output):
    """[(dark file, bright file, output path)] for two files or two folders.

    Folders pair their images in sorted name order (equal names pair with each other) and the
    output of each pair is ``OUTPUT/<dark stem>.png``. The outputs are checked here, before any
    work (``prepare_image_output`` / ``prepare_output_folder``): never an input, nor its folder.
    """
    from expinterp_plugin.exposure.brackets import IMAGE_SUFFIXES
    dark, bright, output = Path(dark), Path(bright), Path(output)
    for path in (dark, bright):
        if not path.exists():
            raise FileNotFoundError(f'{path}: no such file or folder')
    check_distinct_inputs(dark, bright)
    if dark.is_file() and bright.is_file():
        prepare_image_output(output, [dark, bright])
        return [(dark, bright, output)]
    if not (dark.is_dir() and bright.is_dir()):
        raise ValueError(f'{dark} and {bright}: give two image files or two folders')
    darks, brights = image_files(dark), image_files(bright)
    if not darks:
        raise ValueError(f'{dark}: no images ({", ".join(IMAGE_SUFFIXES)})')
    if len(darks) != len(brights):
        raise ValueError(f'{dark} holds {len(darks)} images but {bright} holds {len(brights)}: '
                         'folders must pair up one to one')
    prepare_output_folder(output, [dark, bright])
    stems = [p.stem for p in darks]
    if len(set(stems)) != len(stems):
        raise ValueError(f'{dark}: several images share a name stem; their outputs would collide')
    pairs = [(d, b, output / f'{d.stem}.png') for d, b in zip(darks, brights)]
    for d, b, out in pairs:
        prepare_output(out, [d, b])
    return pairs


def prepare_figure_output(save_figure, dark, bright, output):
    """Check --save-figure like the main output (a folder for folder inputs), before any work."""
    if not save_figure:
        return
    from expinterp_plugin.figures import curves_path
    if Path(dark).is_dir():
        if os.path.abspath(save_figure) == os.path.abspath(output):
            raise ValueError(f'{save_figure}: given for the outputs and the figures; figures '
                             'would overwrite the outputs of the same name')
        prepare_output_folder(save_figure, [dark, bright])
        return
    for path in (Path(save_figure), curves_path(Path(save_figure))):
        prepare_image_output(path, [dark, bright], others=[output])


def planned_pairs(args):
    """``input_pairs`` of the arguments, with every output (figures too) checked: call it before
    any work, a model's loading included."""
    pairs = input_pairs(args.dark, args.bright, args.output)
    prepare_figure_output(args.save_figure, args.dark, args.bright, args.output)
    check_quality(args.quality, args.output)
    return pairs


def figure_path(save_figure, batch, output):
    """Where the strip of one pair goes: ``save_figure`` itself, or for folder inputs
    ``save_figure/<output stem>.png``; None without --save-figure."""
    if not save_figure:
        return None
    return Path(save_figure) / f'{Path(output).stem}.png' if batch else Path(save_figure)


def tile_progress(args, batch):
    """Progress wrapper over tiles (hidden with --quiet and inside a batch, whose bar counts
    pairs)."""
    return lambda it, total: progress(it, total, 'tiles', args.quiet or batch)


def load_model(args):
    """The ``Interpolator`` of --model on --device (the device checked first)."""
    from expinterp_plugin.inference import load_interpolator
    check_device(args.device)
    return load_interpolator(args.model, opt=args.opt, device=args.device)


def model_settings(args, interpolator):
    return {'model': str(args.model), 'network': interpolator.name, 'mode': interpolator.mode,
            'device': args.device, 'tile': args.tile, 'tile_pad': args.tile_pad}


def check_distinct_inputs(dark, bright):
    """Refuse DARK and BRIGHT that are one file or folder (also through links): a pair of one
    exposure has no second exposure to interpolate from. (Two files with identical pixels are
    refused by ``exposure.y0.check_pair``.)"""
    if _same_file(dark, bright):
        kind = 'folder' if Path(dark).is_dir() else 'file'
        raise ValueError(f'{dark} and {bright} are the same {kind}: give a dark and a bright '
                         'exposure of the scene')


def read_args_pair(args, dark_path, bright_path, output):
    """The ``Pair`` of two files with the times, target and CRF of the arguments, and ``output``
    checked to hold the pair's bit depth (before any work)."""
    from expinterp_plugin.exposure.io import check_image_output
    from expinterp_plugin.pair import read_pair
    check_distinct_inputs(dark_path, bright_path)
    pair = read_pair(dark_path, bright_path, args.times, args.exposures, args.target, args.crf,
                     **pair_geometry(args))
    check_image_output(output, pair.dtype)
    print_pair_warnings(pair)
    return pair


def print_pair_warnings(pair):
    """Print (as ``expinterp: warning:`` lines) and forget what the pair has to warn of: its
    alignment when it is read, its motion search once the work has run."""
    for warning in pair.warnings:
        print_warning(warning)
    pair.warnings.clear()


# --- handheld pairs: alignment, moving subjects, the reference frame (issue 18) --------------

def add_align_arguments(parser, crop=True):
    """--align, --reference, --deghost and (with ``crop``) --crop of the commands that read a
    dark/bright pair (``pair.Pair`` does the work)."""
    # The core modules, not pair.py: building the parser must stay cheap (pair.py pulls in
    # the estimators, 0.85 s of imports before any command runs).
    from expinterp_plugin.exposure.align import ALIGN_OPTIONS
    from expinterp_plugin.exposure.motion import REFERENCES
    parser.add_argument('--align', choices=ALIGN_OPTIONS, default='auto',
                        help='align the moved frame onto the reference (handheld shots): auto '
                        '(the simplest of translation, euclidean, homography that the frames '
                        'support; a static pair is left untouched), one model, or off '
                        '(default auto)')
    parser.add_argument('--reference', choices=REFERENCES, default='dark',
                        help='the frame whose geometry, metadata and moving subjects the output '
                        'keeps (default dark)')
    parser.add_argument('--deghost', choices=('on', 'off'), default='on',
                        help='on: where the scene moved between the shots, take the reference '
                        'frame alone (default on)')
    if crop:
        parser.add_argument('--crop', action='store_true',
                            help='crop the output to the area both frames cover after alignment')


def pair_geometry(args):
    """The ``Pair`` keywords of --align, --reference and --deghost."""
    return {'align': args.align, 'reference': args.reference, 'deghost': args.deghost == 'on'}


def reference_path(args, dark_path, bright_path):
    """The --reference input file, whose ICC profile and EXIF the output carries."""
    return dark_path if args.reference == 'dark' else bright_path


def cropped(args, pair, img):
    """``img`` (the pair's size) cropped to ``pair.common_box()`` with --crop."""
    return img[pair.common_box()] if args.crop else img


def motion_fields(pair, img=None):
    """The pair's JSON fields 'alignment' and 'motion' (``Pair.motion_record``), and with
    ``img`` (the written image) its 'size' [width, height]."""
    fields = pair.motion_record()
    if img is not None:
        fields['size'] = [int(img.shape[1]), int(img.shape[0])]
    return fields


def target_seconds(pair):
    """The pair's target time in seconds, for the EXIF ExposureTime of its middle exposure;
    None where the times were estimated (only their ratio is known then, not seconds)."""
    return None if pair.times.source == 'estimated ratio' else pair.t_target


def write_output(args, path, img, reference, exposure_time=None):
    """Write an output image (RGB uint8/uint16 (H, W, 3)) atomically, with --quality and the ICC
    profile and EXIF of the ``reference`` input file; its EXIF ExposureTime becomes
    ``exposure_time`` seconds, or is removed when None (a fused image has no one exposure)."""
    import warnings
    from expinterp_plugin.exposure.io import write_image
    from expinterp_plugin.exposure.metadata import MetadataWarning, read_metadata
    # what cannot be carried is said on one `expinterp: warning:` line, not as a Python warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', MetadataWarning)
        metadata = read_metadata(reference).with_exposure_time(exposure_time)
        write_image(path, img, metadata, quality=args.quality)
    for warning in caught:
        if issubclass(warning.category, MetadataWarning):
            print_warning(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)


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
    """Print the summary as JSON (--json) or one line per pair, then (stderr) the failed pairs
    of a batch; returns the exit status (2 when any pair failed)."""
    failed = summary.get('failed', [])
    if args.json:
        print_json(summary)
    else:
        print_pairs(summary['pairs'])
    if failed:
        print(f"expinterp: {len(summary['pairs'])} pair(s) done, {len(failed)} failed:",
              file=sys.stderr)
        for f in failed:
            print(f"  {f['dark']} + {f['bright']}: {f['error']}", file=sys.stderr)
        return 2
    return 0


#: Where recorded exposure times came from (``pair.ExposureTimes.source``), as the text says it.
TIME_SOURCES = {'arguments': 'from --times', 'exif': "from the files' EXIF",
                'exposures file': 'from the --exposures list'}


def times_text(record):
    """'t_dark A s, t_bright B s (WHERE FROM)' of a JSON record (t_dark, t_bright, times_from,
    ratio_estimate): the one wording of `y0`, `fuse` and `interpolate`. An estimated ratio comes
    with its EV, confidence, the spread the images alone leave, whether it is measured or mostly
    the spacing prior (``estimate.ratio_basis``), and the advice to give --times."""
    from expinterp_plugin.exposure.estimate import RATIO_PRIOR_EV
    times = f"t_dark {record['t_dark']:g} s, t_bright {record['t_bright']:g} s"
    found = record.get('ratio_estimate')
    if found is None:
        return f"{times} ({TIME_SOURCES[record['times_from']]})"
    spread = found['data_std_ev']
    alone = (f"the images alone +-{spread:g} EV" if spread is not None
             else f"no spread from the images (fallback {found['method']})")
    basis = 'measured' if found['basis'] == 'measured' else \
        'mostly the {:g} +- {:g} EV spacing prior, not a measurement'.format(*RATIO_PRIOR_EV)
    return (f"{times} (times unknown: ratio estimated from the images, {found['ev']:g} EV, "
            f"confidence {found['confidence']:g}, {alone}: {basis}; give --times T_DARK "
            "T_BRIGHT if the spacing is known)")


def print_pairs(records):
    """One line per written pair (and one per figure)."""
    for r in records:
        details = []
        if 't_dark' in r:
            details.append(times_text(r))
        if 't_target' in r:
            details.append(f"target {r['t_target']:g} s, crf {r['crf']}")
        details.append(f"{r['seconds']:.2f} s")
        print(f"wrote {r['output']}: {', '.join(details)}")
        for path in r['figures']:
            print(f'wrote {path}')


def for_each_pair(args, pairs, work):
    """Run ``work(dark_path, bright_path, output, batch) -> record`` over ``planned_pairs`` with
    a progress bar; returns (records, failures). In a folder batch a pair's user error is printed
    with the pair's names and recorded in ``failures`` ({dark, bright, error}), and the batch
    goes on; a single pair's error propagates."""
    batch = Path(args.dark).is_dir()
    records, failures = [], []
    for d, b, out in progress(pairs, len(pairs), 'pairs', args.quiet or not batch):
        try:
            records.append(work(d, b, out, batch))
        except user_error_types() as err:
            if not batch:
                raise ValueError(describe_for(err, d, b)) from err
            failures.append({'dark': str(d), 'bright': str(b), 'error': describe(err)})
            print_error(describe_for(err, d, b))
    return records, failures


def add_dataset_output_arguments(parser, command):
    """--lmdb, --lmdb-codec, --workers, --overwrite and --json of the commands that write a
    triplet data set (``command``: the name its --overwrite help refers to)."""
    parser.add_argument('--lmdb', action='store_true',
                        help="also write {low,mid,high}.lmdb with BasicSR's LMDB utilities")
    parser.add_argument('--lmdb-codec', choices=('png', 'ppm'), default='png',
                        help="--lmdb values: 'png' (BasicSR's own format) or 'ppm' "
                        '(uncompressed, 2-3x larger, decoded ~20x faster: whole-frame random '
                        'crops at several hundred per second per worker)')
    parser.add_argument('--workers', type=positive_int, default=1, help='parallel processes')
    parser.add_argument('--overwrite', action='store_true',
                        help=f'replace a DST written by an earlier expinterp {command} (marked by '
                        'its .expinterp-prepare.json; any other non-empty folder is refused); '
                        'the new dataset is built beside it and swapped in whole')
    parser.add_argument('--json', action='store_true', help='print a JSON summary')
    add_quiet_argument(parser)


def _basicsr_lmdb_writer(root, keys):
    import contextlib
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs
    # BasicSR reports progress on stdout, which must stay clean for --json.
    with contextlib.redirect_stdout(sys.stderr):
        for frame in ('low', 'mid', 'high'):
            make_lmdb_from_imgs(str(root / frame), str(root / f'{frame}.lmdb'),
                                [f'{k}.png' for k in keys], keys, multiprocessing_read=False)


def _ppm_lmdb_writer(root, keys):
    from expinterp_plugin.triplet_store import write_triplet_lmdbs
    write_triplet_lmdbs(root, keys, codec='ppm')


LMDB_WRITERS = {'png': _basicsr_lmdb_writer, 'ppm': _ppm_lmdb_writer}


def lmdb_writer(args):
    """``lmdb_writer(root, keys)`` for the data-set writers from --lmdb/--lmdb-codec, or None."""
    return LMDB_WRITERS[args.lmdb_codec] if args.lmdb else None
