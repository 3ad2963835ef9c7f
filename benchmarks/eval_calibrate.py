"""`expinterp calibrate` against OpenCV Debevec on the shared real brackets (JSON).

For every bracket of ../shared/data/real-brackets (frames resized to --max-side): the
leave-one-frame-out PSNR (``estimate.leave_one_out_psnr``: each interior frame predicted from
its two neighbours with a CRF fitted on all other frames) of every candidate estimator, OpenCV
``createCalibrateDebevec`` with 400 samples and lambda 10 among them, and which one
``calibrate_bracket`` (the `expinterp calibrate` default) keeps.

    python benchmarks/eval_calibrate.py [--max-side 512]
"""
import argparse
import json
import sys
import time
from pathlib import Path

from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.estimate import CALIBRATION_CANDIDATES, leave_one_out_psnr
from expinterp_plugin.exposure.io import read_image
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--max-side', type=int, default=512)
    parser.add_argument('--shared', default=str(Path(__file__).resolve().parents[2] / 'shared'))
    args = parser.parse_args()
    root = Path(args.shared) / 'data' / 'real-brackets'
    if not root.is_dir():
        sys.exit(f'{root}: shared real brackets not found')
    start = time.perf_counter()
    brackets = {}
    for bracket in find_brackets(root):
        frames = bracket_exposures(bracket)
        images = [resize_max_side(read_image(p), args.max_side) for p, _ in frames]
        times = [t for _, t in frames]
        scores = {m: round(leave_one_out_psnr(images, times, m, **options), 3)
                  for m, options in CALIBRATION_CANDIDATES.items()}
        chosen = max(scores, key=scores.get)
        brackets[bracket.name] = {'frames': len(frames), 'leave_one_out_psnr': scores,
                                  'calibrate_chooses': chosen,
                                  'calibrate_minus_debevec_db': round(
                                      scores[chosen] - scores['debevec'], 3)}
    print(json.dumps({'max_side': args.max_side, 'brackets': brackets,
                      'seconds': round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == '__main__':
    main()
