"""y0 quality on the shared real brackets: CRF sources and IMF methods side by side (JSON).

For every 4-EV triplet of ../shared/data/real-brackets the middle frame is predicted from the
dark and bright frames and scored with BasicSR's PSNR/SSIM (prediction rounded to 8 bit):

- geomean: model-free sqrt(dark * bright);
- pair (polynomial | debevec) x IMF (linear | sigmoid): CRF from the two inputs only;
- bracket: CRF from every frame of the sequence (uses the ground-truth frame: an upper
  reference, not a fair method);
- calibrated: CRF from the *other* frames of the same camera (all frames of the bracket except
  the triplet's three), the ``expinterp calibrate`` + ``--crf FILE`` workflow.

Usage: python benchmarks/eval_real.py [--max-side 1024] [--shared ../shared]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import expinterp_plugin  # noqa: F401  (compat before basicsr's first import)
from expinterp_plugin.evaluation import geometric_mean_image, score
from expinterp_plugin.exposure.brackets import bracket_exposures, select_triplets
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import read_image
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side
from expinterp_plugin.exposure.y0 import Y0Mapper


def methods_for(frames, images, times, i, j, k):
    dark, bright = images[i], images[k]
    pair = [dark, bright], [times[i], times[k]]
    crfs = {
        'pair-polynomial': lambda: estimate_crf(*pair),
        'pair-debevec': lambda: estimate_crf(*pair, method='debevec'),
        'bracket-polynomial': lambda: estimate_crf(images, times),
        'calibrated-polynomial': lambda: estimate_crf(
            [im for n, im in enumerate(images) if n not in (i, j, k)],
            [t for n, t in enumerate(times) if n not in (i, j, k)]),
    }
    plan = [('geomean', None, None), ('pair-polynomial/linear', 'pair-polynomial', 'linear'),
            ('pair-polynomial/sigmoid', 'pair-polynomial', 'sigmoid'),
            ('pair-debevec/linear', 'pair-debevec', 'linear'),
            ('bracket-polynomial/linear', 'bracket-polynomial', 'linear'),
            ('calibrated-polynomial/linear', 'calibrated-polynomial', 'linear')]
    cache = {}
    for name, crf_key, imf in plan:
        if crf_key is None:
            yield name, lambda: geometric_mean_image(dark, bright)
            continue

        def predict(crf_key=crf_key, imf=imf):
            if crf_key not in cache:
                cache[crf_key] = crfs[crf_key]()
            return Y0Mapper(cache[crf_key], times[i], times[k], times[j], imf=imf)(dark, bright)
        yield name, predict


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--max-side', type=int, default=1024)
    parser.add_argument('--shared', default=str(Path(__file__).resolve().parents[2] / 'shared'))
    args = parser.parse_args()
    root = Path(args.shared) / 'data' / 'real-brackets'
    if not root.is_dir():
        sys.exit(f'{root}: shared real brackets not found')
    rows = {}
    start = time.perf_counter()
    for bracket in find_brackets(root):
        frames = bracket_exposures(bracket)
        times = [t for _, t in frames]
        images = [resize_max_side(read_image(p), args.max_side) for p, _ in frames]
        for i, j, k in select_triplets(times):
            for name, predict in methods_for(frames, images, times, i, j, k):
                try:
                    psnr, ssim = score(predict(), images[j])
                except RuntimeError as err:
                    psnr, ssim = float('nan'), float('nan')
                    print(f'{bracket.name} {i} {j} {k} {name}: {err}', file=sys.stderr)
                rows.setdefault(name, []).append((psnr, ssim))
    summary = {name: {'psnr': round(float(np.nanmean([p for p, _ in v])), 3),
                      'ssim': round(float(np.nanmean([s for _, s in v])), 4),
                      'failed': int(np.isnan([p for p, _ in v]).sum()), 'triplets': len(v)}
               for name, v in rows.items()}
    print(json.dumps({'max_side': args.max_side, 'seconds': round(time.perf_counter() - start, 1),
                      'mean': summary}, indent=2))


if __name__ == '__main__':
    main()
