"""`expinterp eval`: PSNR/SSIM of an interpolation method over a triplet-layout dataset, and
with --fusion the MEF-SSIM of Mertens fusions with and without the interpolated frame."""
from expinterp_plugin.commands._common import (add_align_arguments, add_crf_argument,
                                               add_quiet_argument, check_device, describe, fail,
                                               non_negative_float, pair_geometry, positive_int,
                                               prepare_output, print_json, progress,
                                               user_error_types)

NAME = 'eval'
HELP = ('score the middle exposure predicted from low+high against the real one (PSNR/SSIM; '
        'MEF-SSIM of the fusions with --fusion)')


def add_arguments(parser):
    parser.add_argument('root', help='triplet-layout folder (low/ mid/ high/ exposures.txt)')
    parser.add_argument('--method', default='imf-linear', metavar='METHOD',
                        help='imf-linear (proposed y0), imf-sigmoid (double-sigmoid baseline), '
                        'geomean (model-free sqrt(dark*bright)), virtual2018 (the 2018 fusion '
                        'paper\'s virtual image), model:CKPT (a trained network; hybrid, '
                        'conditioned or direct per its options) (default: imf-linear)')
    parser.add_argument('--opt', metavar='YML',
                        help='training option file of a model:CKPT (network and dataset mode)')
    add_crf_argument(parser)
    parser.add_argument('--fusion', action='store_true',
                        help='also MEF-SSIM (multi-scale, against the real low/mid/high) of '
                        'Mertens on the pair, with the method\'s frame, with the 2018 virtual '
                        'image and with the real middle frame')
    parser.add_argument('--order', action='store_true',
                        help='with --fusion: also the brightness-order reversal of each fusion '
                        '(%% of block pairs >= 1 EV apart rendered in reversed order)')
    parser.add_argument('--max-side', type=positive_int, metavar='N',
                        help='downscale every frame (INTER_AREA) so its long side is at most N')
    parser.add_argument('--xi-l', type=non_negative_float, default=10,
                        help='y0 dark-weight threshold, 8-bit scale (imf-* methods; default 10)')
    parser.add_argument('--xi-u', type=non_negative_float, default=250,
                        help='y0 bright-weight threshold, 8-bit scale (imf-* methods; '
                        'default 250)')
    parser.add_argument('--device', default='cpu', help='torch device for model:CKPT')
    parser.add_argument('--tile', type=positive_int, metavar='PX',
                        help='model:CKPT inference in tiles of PX pixels (large photos)')
    parser.add_argument('--markdown', metavar='FILE',
                        help='also write a Markdown table (per triplet and mean) to FILE; an '
                        'existing file is replaced (atomically)')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    add_align_arguments(parser, crop=False)
    add_quiet_argument(parser)
    parser.epilog = "--crf also accepts 'dataset': the per-scene ROOT/crf/NAME.npy tables."


def print_text(result):
    rows = result['triplets'] + [dict(result['mean'], name='mean')]
    width = max(len(r['name']) for r in rows)
    for r in rows:
        line = f"{r['name']:<{width}}  PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}"
        if result['fusion']:
            m = r['mef_ssim']
            line += (f"  MEF-SSIM pair {m['pair']:.4f} +method {m['with_method']:.4f} "
                     f"coarse-middle {m['coarse_middle']:.4f} "
                     f"+virtual2018 {m['with_virtual2018']:.4f} +real mid {m['ceiling']:.4f}")
        if 'order_reversal' in r:
            line += '  reversed % ' + ' '.join(f'{c} {100 * v:.2f}'
                                                for c, v in r['order_reversal'].items())
        print(line)
    print(f"({result['count']} triplets, {result['method']}, crf {result['crf']})")


def run(args):
    from expinterp_plugin.evaluation import evaluate, write_markdown
    from pathlib import Path
    try:
        if args.order and not args.fusion:
            raise ValueError('--order scores the fusions: give --fusion too')
        if args.markdown:
            model_files = ([args.method.partition(':')[2], args.opt]
                           if args.method.startswith('model:') else [])
            inputs = [Path(args.root) / 'exposures.txt', *filter(None, model_files)]
            prepare_output(args.markdown, inputs, suffixes=('.md',))
        if args.method.startswith('model:'):
            check_device(args.device)
        result = evaluate(args.root, args.method, args.crf,
                          progress=lambda it, total: progress(it, total, 'triplets', args.quiet),
                          fusion=args.fusion, max_side=args.max_side, opt=args.opt,
                          device=args.device, xi_l=args.xi_l, xi_u=args.xi_u, tile=args.tile,
                          order=args.order, geometry=pair_geometry(args))
        if args.markdown:
            write_markdown(args.markdown, result)
    except user_error_types() as err:
        return fail(describe(err))
    if args.json:
        print_json(result)
    else:
        print_text(result)
    return 0
