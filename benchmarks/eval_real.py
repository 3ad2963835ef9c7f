"""y0 quality on the shared real brackets: CRF sources and IMF methods side by side (JSON).

For every 4-EV triplet of ../shared/data/real-brackets the middle frame is predicted from the
dark and bright frames and scored with BasicSR's PSNR/SSIM (prediction rounded to 8 bit):

- geomean: model-free sqrt(dark * bright);
- pair (emor | polynomial | debevec) x IMF (linear | sigmoid): CRF from the two inputs only
  (emor, the DoRF prior, is the default estimator);
- bracket: CRF from every frame of the sequence (uses the ground-truth frame: an upper
  reference, not a fair method);
- calibrated: CRF from the *other* frames of the same camera (all frames of the bracket except
  the triplet's three), the ``expinterp calibrate`` + ``--crf FILE`` workflow.

Usage: python benchmarks/eval_real.py [--max-side 1024] [--data-root DIR]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_brackets import arguments, read_brackets  # noqa: E402

import expinterp_plugin  # noqa: E402,F401  (compat before basicsr's first import)
from expinterp_plugin.evaluation import geometric_mean_image, score  # noqa: E402
from expinterp_plugin.exposure.brackets import select_triplets  # noqa: E402
from expinterp_plugin.exposure.crf import preset_crf  # noqa: E402
from expinterp_plugin.exposure.estimate import (  # noqa: E402
    estimate_crf, estimate_exposure_ratio, estimate_pair_exposure)
from expinterp_plugin.exposure.y0 import Y0Mapper  # noqa: E402


def hidden_time_estimates(dark, bright):
    """{name: (ratio, CRF)} of the times-hidden methods for one pair."""
    joint = estimate_pair_exposure(dark, bright)
    srgb_ratio = estimate_exposure_ratio(dark, bright, preset_crf('srgb'))
    return {'hidden-joint': (joint.ratio, joint.crf),
            'hidden-srgb-ratio': (srgb_ratio, estimate_crf([dark, bright], [1.0, srgb_ratio],
                                                           method='polynomial'))}


def methods_for(images, times, i, j, k, ratio_errors):
    dark, bright = images[i], images[k]
    pair = [dark, bright], [times[i], times[k]]
    rest = [n for n in range(len(images)) if n not in (i, j, k)]
    crfs = {
        'pair-emor': lambda: estimate_crf(*pair, method='emor'),
        'pair-polynomial': lambda: estimate_crf(*pair, method='polynomial'),
        'pair-debevec': lambda: estimate_crf(*pair, method='debevec'),
        'bracket-polynomial': lambda: estimate_crf(images, times, method='polynomial'),
        'calibrated-polynomial': lambda: estimate_crf([images[n] for n in rest],
                                                      [times[n] for n in rest],
                                                      method='polynomial'),
    }
    plan = [('geomean', None, None), ('pair-emor/linear', 'pair-emor', 'linear'),
            ('pair-emor/sigmoid', 'pair-emor', 'sigmoid'),
            ('pair-polynomial/linear', 'pair-polynomial', 'linear'),
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
    true_ratio = times[k] / times[i]
    for name, (ratio, crf) in hidden_time_estimates(dark, bright).items():
        ratio_errors.setdefault(name, []).append(float(np.log2(ratio / true_ratio)))
        yield f'{name}/linear', lambda crf=crf, ratio=ratio: Y0Mapper(crf, 1.0, ratio)(dark,
                                                                                    bright)


def ratio_summary(errors, true_ratios):
    errors = np.asarray(errors)
    return {'signed_median_ev': round(float(np.median(errors)), 3),
            'median_abs_ev': round(float(np.median(np.abs(errors))), 3),
            'p90_abs_ev': round(float(np.percentile(np.abs(errors), 90)), 3),
            'ratio_le_1': int(np.sum(np.exp2(errors) * true_ratios <= 1.0))}


def main():
    args = arguments(__doc__.splitlines()[0], 1024).parse_args()
    rows, ratio_errors, true_ratios = {}, {}, []
    start = time.perf_counter()
    for bracket, times, images in read_brackets(args.data_root, args.max_side):
        for i, j, k in select_triplets(times):
            true_ratios.append(times[k] / times[i])
            for name, predict in methods_for(images, times, i, j, k, ratio_errors):
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
                      'mean': summary,
                      'ratio': {name: ratio_summary(e, np.array(true_ratios))
                                for name, e in ratio_errors.items()}}, indent=2))


if __name__ == '__main__':
    main()
