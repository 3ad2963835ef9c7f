"""`expinterp eval`: PSNR/SSIM of an interpolation method over a triplet-layout dataset."""
from expinterp_plugin.commands._common import add_crf_argument, fail, print_json, progress

NAME = 'eval'
HELP = 'score the middle exposure predicted from low+high against the real one (PSNR/SSIM)'


def add_arguments(parser):
    parser.add_argument('root', help='triplet-layout folder (low/ mid/ high/ exposures.txt)')
    parser.add_argument('--method', default='imf-linear',
                        help='imf-linear (proposed y0), imf-sigmoid (double-sigmoid baseline), '
                        'geomean (model-free sqrt(dark*bright))')
    add_crf_argument(parser)
    parser.epilog = "--crf also accepts 'dataset': the per-scene ROOT/crf/NAME.npy tables."
    parser.add_argument('--json', action='store_true', help='print one JSON object')


def run(args):
    from expinterp_plugin.evaluation import evaluate
    from expinterp_plugin.exposure.io import ImageError
    try:
        result = evaluate(args.root, args.method, args.crf,
                          progress=lambda it, total: progress(it, total, 'triplets', args.json))
    except (ImageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    if args.json:
        print_json(result)
        return 0
    width = max(len(r['name']) for r in result['triplets'])
    for r in result['triplets']:
        print(f"{r['name']:<{width}}  PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}")
    m = result['mean']
    print(f"{'mean':<{width}}  PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.4f}  "
          f"({result['count']} triplets, {args.method}, crf {args.crf})")
    return 0
