"""`expinterp calibrate` against OpenCV Debevec on the shared real brackets (JSON).

For every bracket of ../shared/data/real-brackets (frames resized to --max-side): the
leave-one-frame-out PSNR (``estimate.leave_one_out_psnr``: each interior frame predicted from
its two neighbours with a CRF fitted on all other frames) of every candidate estimator, OpenCV
``createCalibrateDebevec`` with 400 samples and lambda 10 among them, and which one
``calibrate_bracket`` (the `expinterp calibrate` default) keeps.

Then the calibration in use, as `expinterp calibrate` + `--crf FILE` is meant to be used: for
every 4-EV triplet, the bracket's *other* frames (the triplet's three left out) are calibrated
by ``calibrate_bracket`` and by OpenCV Debevec (400 samples, lambda 10), and each CRF predicts
the triplet's middle frame from its dark and bright frames (y0, linear IMF, known times; BasicSR
PSNR). The shared set has one scene per camera, so this stands in for calibrating on one scene
and using the CRF on another.

    python benchmarks/eval_calibrate.py [--max-side 512]
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
    CALIBRATION_CANDIDATES, calibrate_bracket, estimate_crf, leave_one_out_psnr)
from expinterp_plugin.exposure.y0 import Y0Mapper  # noqa: E402


def held_out_triplets(images, times):
    """Per 4-EV triplet: y0 PSNR with the CRF that `calibrate` and Debevec fit on the other
    frames, and the estimator `calibrate` kept."""
    rows = []
    for i, j, k in select_triplets(times):
        rest = [n for n in range(len(images)) if n not in (i, j, k)]
        frames, frame_times = [images[n] for n in rest], [times[n] for n in rest]
        chosen, method, _ = calibrate_bracket(frames, frame_times)
        debevec = estimate_crf(frames, frame_times, 'debevec', **CALIBRATION_CANDIDATES['debevec'])
        psnr = {name: round(score(Y0Mapper(crf, times[i], times[k], times[j])(images[i],
                                                                            images[k]),
                                  images[j])[0], 3)
                for name, crf in (('calibrate', chosen), ('debevec', debevec))}
        rows.append({'triplet': [i, j, k], 'calibrate_keeps': method, **psnr})
    return rows


def main():
    args = arguments(__doc__.splitlines()[0], 512).parse_args()
    start = time.perf_counter()
    brackets = {}
    for bracket, times, images in read_brackets(args.data_root, args.max_side):
        scores = {m: round(leave_one_out_psnr(images, times, m, **options), 3)
                  for m, options in CALIBRATION_CANDIDATES.items()}
        chosen = max(scores, key=scores.get)
        triplets = held_out_triplets(images, times)
        brackets[bracket.name] = {'frames': len(images), 'leave_one_out_psnr': scores,
                                  'calibrate_chooses': chosen,
                                  'calibrate_minus_debevec_db': round(
                                      scores[chosen] - scores['debevec'], 3),
                                  'held_out_triplets': triplets}
    rows = [r for b in brackets.values() for r in b['held_out_triplets']]
    held_out = {name: round(float(np.mean([r[name] for r in rows])), 3)
                for name in ('calibrate', 'debevec')}
    print(json.dumps({'max_side': args.max_side, 'brackets': brackets,
                      'held_out_triplets_mean_psnr': held_out | {'triplets': len(rows)},
                      'seconds': round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == '__main__':
    main()
