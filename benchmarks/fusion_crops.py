"""Side-by-side fusions at 100 % for looking for halos and seams: pair, paper's, default.

For the six MEFB scenes of ``fused_sample/`` and one 4-EV triplet of each real bracket (frames
<= --max-side px, known times): the pair's Mertens fusion, the paper's three-frame fusion with
y0, and `expinterp fuse`'s default (coarse-middle), each as a whole image and as a 100 % crop
around the strongest brightness edge (where halos show), one PNG per scene under --out. The
photographs are not ours: keep the figures out of the repository.

Usage: python benchmarks/fusion_crops.py [--data-root DIR] [--out results/fusion_crops]
       [--max-side 1024] [--crop 320]
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_root import add_data_root_argument, data_root, require  # noqa: E402

from expinterp_plugin import mefb  # noqa: E402
from expinterp_plugin.exposure.brackets import bracket_exposures, select_triplets  # noqa: E402
from expinterp_plugin.exposure.io import read_image, write_image  # noqa: E402
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side  # noqa: E402
from expinterp_plugin.figures import comparison_strip  # noqa: E402
from expinterp_plugin.fusion import fuse_pair  # noqa: E402
from expinterp_plugin.pair import Pair, read_pair  # noqa: E402


def fusions(pair):
    """{label: uint8 RGB} of the pair's three fusions."""
    return {'pair': fuse_pair(pair, method='pair').fused,
            'three-frame (paper)': fuse_pair(pair, Pair.model_driven,
                                             method='three-frame').fused,
            'coarse-middle (default)': fuse_pair(pair, Pair.model_driven).fused}


def strongest_edge(img, side):
    """(top, left) of the ``side`` x ``side`` window with the most grey gradient energy at
    coarse scale, where halos of exposure fusion sit."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 4)
    energy = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    box = cv2.boxFilter(energy, -1, (side, side), normalize=False)
    h, w = grey.shape
    half = side // 2
    valid = box[half:h - half, half:w - half] if h > side and w > side else box
    top, left = np.unravel_index(np.argmax(valid), valid.shape)
    return int(top), int(left)


def scene_strip(name, pair, side):
    """The figure of one scene: whole fused images, then their 100 % crops."""
    images = fusions(pair)
    side = min(side, *pair.dark.shape[:2])
    top, left = strongest_edge(images['pair'], side)
    crops = [(f'{label} 100 %', img[top:top + side, left:left + side])
             for label, img in images.items()]
    whole = comparison_strip([(f'{name}: {label}', img) for label, img in images.items()], 1800)
    zoom = comparison_strip(crops, 3 * side)
    zoom = cv2.copyMakeBorder(zoom, 0, 0, 0, whole.shape[1] - zoom.shape[1],
                              cv2.BORDER_CONSTANT) if zoom.shape[1] < whole.shape[1] else zoom
    return np.concatenate([whole, zoom[:, :whole.shape[1]]], axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root_argument(parser)
    parser.add_argument('--out', type=Path, default=Path('results/fusion_crops'))
    parser.add_argument('--max-side', type=int, default=1024)
    parser.add_argument('--crop', type=int, default=320)
    args = parser.parse_args()
    root = data_root(args.data_root)
    mefb_root, real_root = require(root, 'mefb'), require(root, 'real-brackets')
    args.out.mkdir(parents=True, exist_ok=True)
    samples = {scene for scene, _ in mefb.stored_fused(mefb_root)}
    for files in mefb.read_pairs(mefb_root):
        if files.name in samples:
            path = args.out / f'mefb_{files.name}.png'
            write_image(path, scene_strip(files.name, read_pair(files.under, files.over),
                                          args.crop))
            print(path)
    for bracket in find_brackets(real_root):
        frames = bracket_exposures(bracket)
        times = [t for _, t in frames]
        i, j, k = select_triplets(times)[len(select_triplets(times)) // 2]
        dark, bright = (resize_max_side(read_image(frames[n][0]), args.max_side)
                        for n in (i, k))
        path = args.out / f'real_{bracket.name}.png'
        write_image(path, scene_strip(bracket.name, Pair(dark, bright, (times[i], times[k])),
                                      args.crop))
        print(path)


if __name__ == '__main__':
    main()
