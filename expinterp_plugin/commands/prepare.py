"""`expinterp prepare`: bracketed sequences -> the triplet layout (optionally LMDB)."""
from expinterp_plugin.commands._common import (add_dataset_output_arguments, describe, fail, lmdb_writer,
                                               non_negative_float, positive_float, positive_int,
                                               print_json, print_warning, progress,
                                               user_error_types)

NAME = 'prepare'

HELP = ('turn a folder of bracketed sequences (one sub-folder per scene) into the '
        'low/mid/high triplet layout with exposures.txt and per-scene CRFs')


def add_arguments(parser):
    parser.add_argument('src', help='folder of bracket folders (times from exposures.txt '
                        '"FILENAME SECONDS" lines, else EXIF)')
    parser.add_argument('dst', help='output root: must not exist or be empty, or (with '
                        '--overwrite) be an earlier output of expinterp prepare; never SRC, '
                        'inside it or around it')
    parser.add_argument('--crop', type=positive_int,
                        help='cut sub-images of this size (keys NAME_sNNN)')
    parser.add_argument('--step', type=positive_int,
                        help='stride between sub-images (default: --crop)')
    parser.add_argument('--max-side', type=positive_int,
                        help='downscale (INTER_AREA) to this long side')
    parser.add_argument('--crf', default='pair', metavar='SPEC',
                        help="CRF written per scene: 'pair' (dark+bright only, default) or "
                        "'pair:polynomial'/'pair:debevec', 'bracket' (all frames of the "
                        "sequence, fitted once per bracket), 'none', a preset, dorf:/emor: or a "
                        "file")
    parser.add_argument('--ev', type=positive_float, default=4.0,
                        help='bright/dark spread in stops')
    parser.add_argument('--ev-tol', type=non_negative_float, default=0.25,
                        help='tolerance on --ev (stops)')
    parser.add_argument('--mid-tol', type=non_negative_float, default=0.2,
                        help='max distance of the middle frame from the geometric mean (stops)')
    from expinterp_plugin.exposure.align import ALIGN_OPTIONS
    parser.add_argument('--align', nargs='?', const='auto', default='off', choices=ALIGN_OPTIONS,
                        help='handheld brackets: register the dark and bright frame of each '
                        "triplet onto its middle frame ('--align' alone: auto, the simplest "
                        'motion model the data support) and cut all three to the area both '
                        'moved frames cover, before cropping; the motion goes to '
                        'DST/alignment.json and --json; a triplet that cannot be aligned is '
                        'reported and skipped (default: off)')
    add_dataset_output_arguments(parser, 'prepare')


def run(args):
    from expinterp_plugin.exposure.prepare import prepare_triplets
    try:
        summary = prepare_triplets(
            args.src, args.dst, max_side=args.max_side, crop=args.crop, step=args.step,
            crf=args.crf, ev=args.ev, ev_tol=args.ev_tol, mid_tol=args.mid_tol,
            lmdb_writer=lmdb_writer(args), workers=args.workers,
            overwrite=args.overwrite, align=args.align,
            progress=lambda it, total: progress(it, total, 'triplets', disable=args.quiet))
    except user_error_types() as err:
        return fail(describe(err))
    for skipped in summary.get('skipped', []):
        print_warning(f"skipped {skipped['name']}: {skipped['reason']}")
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['samples']} samples from {summary['triplets']} triplets to "
              f"{summary['root']}")
    return 0
