"""The exposure ratio of a pair without times, and its y0, at every bracket spacing (JSON).

The pair pipeline's ratio estimate (``estimate_pair_exposure``) combines the DoRF prior over
responses with a prior over the spacing (``RATIO_PRIOR_EV``, 4 +- 0.5 EV, the method's
operating point). On pairs that are 4 EV apart that prior is right by construction, so this
benchmark also measures what it costs on pairs that are not: every pair of frames of the shared
real brackets whose spacing is 2, 3, 4, 5 or 6 EV (+- 0.25) and that has a middle frame within
0.2 EV of the geometric mean, scored

- ratio error (EV, estimated minus true) with the spacing prior, with a wide one (std 1 EV)
  and without it (response prior only);
- y0 PSNR (dB, BasicSR, 8-bit) with each estimate and with the known times (pair-estimated
  CRF either way), to check that along the exponential ambiguity y0 does not depend on the
  reported ratio.

Usage: python benchmarks/eval_ratio.py [--max-side 512] [--data-root DIR]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_brackets import arguments, read_brackets  # noqa: E402

import expinterp_plugin  # noqa: E402,F401  (compat before basicsr's first import)
from expinterp_plugin.evaluation import score  # noqa: E402
from expinterp_plugin.exposure.brackets import select_triplets  # noqa: E402
from expinterp_plugin.exposure.estimate import (  # noqa: E402
    RATIO_PRIOR_EV, estimate_crf, estimate_pair_exposure)
from expinterp_plugin.exposure.y0 import Y0Mapper  # noqa: E402

SPACINGS_EV = (2, 3, 4, 5, 6)
PRIORS = {'spacing-prior': RATIO_PRIOR_EV, 'wide-prior': (RATIO_PRIOR_EV[0], 1.0),
          'response-prior-only': None}


def pair_rows(images, times, i, j, k):
    """One row per estimator for the pair (i, k) with middle j: ratio error and y0 PSNR."""
    dark, mid, bright = images[i], images[j], images[k]
    true_ev = float(np.log2(times[k] / times[i]))
    known = estimate_crf([dark, bright], [times[i], times[k]])
    row = {'true_ev': round(true_ev, 3),
           'known-times': round(score(Y0Mapper(known, times[i], times[k])(dark, bright),
                                      mid)[0], 3)}
    for name, prior in PRIORS.items():
        found = estimate_pair_exposure(dark, bright, ratio_prior=prior)
        row[name] = {'error_ev': round(float(np.log2(found.ratio)) - true_ev, 3),
                     'psnr': round(score(Y0Mapper(found.crf, 1.0, found.ratio)(dark, bright),
                                         mid)[0], 3),
                     'data_std_ev': round(found.data_std_ev, 3)}
    return row


def summarise(rows):
    out = {'pairs': len(rows), 'known_times_psnr': round(float(np.mean(
        [r['known-times'] for r in rows])), 3)}
    for name in PRIORS:
        errors = np.array([r[name]['error_ev'] for r in rows])
        out[name] = {'median_abs_error_ev': round(float(np.median(np.abs(errors))), 3),
                     'p90_abs_error_ev': round(float(np.percentile(np.abs(errors), 90)), 3),
                     'signed_median_ev': round(float(np.median(errors)), 3),
                     'psnr': round(float(np.mean([r[name]['psnr'] for r in rows])), 3)}
    return out


def main():
    args = arguments(__doc__.splitlines()[0], 512).parse_args()
    start, by_spacing = time.perf_counter(), {}
    for bracket, times, images in read_brackets(args.data_root, args.max_side):
        for spacing in SPACINGS_EV:
            for i, j, k in select_triplets(times, ev=spacing):
                row = pair_rows(images, times, i, j, k) | {'bracket': bracket.name}
                by_spacing.setdefault(spacing, []).append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps({'max_side': args.max_side, 'ratio_prior_ev': list(RATIO_PRIOR_EV),
                      'seconds': round(time.perf_counter() - start, 1),
                      'by_spacing_ev': {str(s): summarise(r) for s, r in by_spacing.items()},
                      'brackets_by_spacing': {str(s): sorted({r['bracket'] for r in rows})
                                              for s, rows in by_spacing.items()}}, indent=1))


if __name__ == '__main__':
    main()
