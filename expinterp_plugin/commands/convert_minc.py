"""``expinterp convert-minc``: MINC VGG-16 Caffe weights -> torch state dict for L_f."""
import json

from expinterp_plugin.commands._common import (add_output_file_argument, describe, fail,
                                               prepare_output, user_error_types)

NAME = 'convert-minc'
HELP = ('Convert the published MINC VGG-16 Caffe model (minc-vgg16.caffemodel) into the torch '
        'state dict that MINCPerceptualLoss loads (weights_path).')


def add_arguments(parser):
    parser.add_argument('caffemodel', help='path to minc-vgg16.caffemodel (Bell et al., CVPR 2015)')
    add_output_file_argument(parser, 'state dict to write (.pth)')
    parser.add_argument('--include-fc', action='store_true',
                        help='also convert fc6, fc7 and fc8-20 (as fc8); the feature loss needs '
                             'only the conv layers, and fc6 alone is ~400 MB')
    parser.add_argument('--json', action='store_true',
                        help='print the converted keys and shapes as JSON')


def run(args):
    from expinterp_plugin.caffe_minc import CaffeFormatError, convert_minc_vgg16

    try:
        prepare_output(args.output, [args.caffemodel])
        shapes = convert_minc_vgg16(args.caffemodel, args.output, include_fc=args.include_fc)
    except (CaffeFormatError, *user_error_types()) as err:
        return fail(describe(err))
    if args.json:
        print(json.dumps({'output': str(args.output),
                          'tensors': {k: list(v) for k, v in shapes.items()}}, indent=2))
    else:
        layers = [key.removesuffix('.weight') for key in shapes if key.endswith('.weight')]
        print(f'wrote {args.output}: {len(layers)} layers ({", ".join(layers)})')
    return 0
