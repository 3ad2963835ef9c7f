"""`expinterp prepare`: bracketed sequences -> the triplet layout (optionally LMDB)."""
import contextlib
import sys

from expinterp_plugin.commands._common import fail, print_json, progress

NAME = 'prepare'
HELP = ('turn a folder of bracketed sequences (one sub-folder per scene) into the '
        'low/mid/high triplet layout with exposures.txt and per-scene CRFs')


def add_arguments(parser):
    parser.add_argument('src', help='folder of bracket folders (times from exposures.txt '
                        '"FILENAME SECONDS" lines, else EXIF)')
    parser.add_argument('dst', help='output root (must not exist or be empty)')
    parser.add_argument('--lmdb', action='store_true',
                        help="also write {low,mid,high}.lmdb with BasicSR's LMDB utilities")
    parser.add_argument('--lmdb-codec', choices=('png', 'ppm'), default='png',
                        help="--lmdb values: 'png' (BasicSR's own format) or 'ppm' "
                        '(uncompressed, 2-3x larger, decoded ~20x faster: whole-frame random '
                        'crops at several hundred per second per worker)')
    parser.add_argument('--crop', type=int, help='cut sub-images of this size (keys NAME_sNNN)')
    parser.add_argument('--step', type=int, help='stride between sub-images (default: --crop)')
    parser.add_argument('--max-side', type=int, help='downscale (INTER_AREA) to this long side')
    parser.add_argument('--crf', default='pair', metavar='SPEC',
                        help="CRF written per scene: 'pair' (dark+bright only, default), "
                        "'bracket' (all frames of the sequence), 'none', a preset or a file")
    parser.add_argument('--ev', type=float, default=4.0, help='bright/dark spread in stops')
    parser.add_argument('--ev-tol', type=float, default=0.25, help='tolerance on --ev (stops)')
    parser.add_argument('--mid-tol', type=float, default=0.2,
                        help='max distance of the middle frame from the geometric mean (stops)')
    parser.add_argument('--workers', type=int, default=1, help='parallel processes')
    parser.add_argument('--overwrite', action='store_true', help='replace a non-empty DST')
    parser.add_argument('--json', action='store_true', help='print a JSON summary')


def _basicsr_lmdb_writer(root, keys):
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


def run(args):
    from expinterp_plugin.exposure.io import ImageError
    from expinterp_plugin.exposure.prepare import prepare_triplets
    if args.crop is not None and args.crop <= 0 or args.step is not None and args.step <= 0:
        return fail('--crop and --step must be positive')
    try:
        summary = prepare_triplets(
            args.src, args.dst, max_side=args.max_side, crop=args.crop, step=args.step,
            crf=args.crf, ev=args.ev, ev_tol=args.ev_tol, mid_tol=args.mid_tol,
            lmdb_writer=LMDB_WRITERS[args.lmdb_codec] if args.lmdb else None, workers=args.workers,
            overwrite=args.overwrite,
            progress=lambda it, total: progress(it, total, 'triplets', disable=args.json))
    except (ImageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['samples']} samples from {summary['triplets']} triplets to "
              f"{summary['root']}")
    return 0
