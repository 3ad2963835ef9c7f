"""The README's picture: one synthetic demo scene, its pair, y0, and the two fusions.

The scene is rendered by `expinterp synth` (procedural, ours to publish); the figure shows the
dark and bright inputs, y0, Mertens' fusion of the pair alone and `expinterp fuse`'s default
(coarse-middle) fusion, with the exposure times of the data set.

Usage: python benchmarks/demo_figure.py docs/images/demo_fuse.jpg [--scene 3] [--size 256]
"""
import argparse
import sys
import tempfile
from pathlib import Path

from expinterp_plugin.cli import main as expinterp
from expinterp_plugin.exposure.brackets import read_triplet_layout
from expinterp_plugin.exposure.io import read_image, write_image
from expinterp_plugin.figures import comparison_strip
from expinterp_plugin.fusion import fuse_pair
from expinterp_plugin.pair import Pair


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('output', type=Path)
    parser.add_argument('--scene', type=int, default=3, help='synth seed of the scene')
    parser.add_argument('--size', type=int, default=320)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'demo'
        status = expinterp(['synth', str(root), '--scenes', '1', '--val-scenes', '0', '--seed',
                            str(args.scene), '--size', f'{args.size}x{args.size}', '-q'])
        if status:
            sys.exit(status)
        triplet = read_triplet_layout(root / 'train')[0]
        dark, bright = read_image(triplet.low), read_image(triplet.high)
        pair = Pair(dark, bright, (triplet.t_low, triplet.t_high))
    default = fuse_pair(pair, Pair.model_driven, keep_y0=True)
    panels = [('dark (input)', dark), ('bright (input, +4 EV)', bright),
              ('y0 (interpolated)', default.y0),
              ('Mertens of the pair', fuse_pair(pair, method='pair').fused),
              ('expinterp fuse', default.fused)]
    write_image(args.output, comparison_strip(panels, 5 * args.size))
    print(args.output)


if __name__ == '__main__':
    main()
