"""Time MEF-SSIM (expinterp_plugin.exposure.fusion_quality) on a small image and a 24-MP sequence.

Prints one JSON object. Figures, all wall-clock seconds (best of --repeat):
  small_test_vector_*: the 80x64 test vector of docs/design.md, "Fusion and MEF-SSIM" (values checked too);
  small_rgb_512x768_multiscale: a 3-exposure RGB 512x768 sequence;
  large_rgb_multiscale: a 3-exposure RGB sequence of --megapixels (default 24) megapixels,
    with its parts: grey conversion of the 4 images and the scales themselves;
  large_*_workers_1 vs large_*_pooled: the same score with tiles on one thread vs the pool,
    measured side by side in this run.
The synthetic scene is smooth noise seen through a gamma-2.2 camera at 1/4, 1 and 4x exposure;
the middle exposure stands in for the fused image (the timing does not depend on its content).

    python benchmarks/bench_mef_ssim.py [--megapixels 24] [--repeat 2]
"""
import argparse
import json
import os
import time

import cv2
import numpy as np

from expinterp_plugin.exposure import fusion_quality as mef


def best_time(fn, repeat):
    best, value = float('inf'), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def test_vector():
    y, x = np.mgrid[0:64, 0:80]
    dark = np.mod(3 * x + 2 * y + np.mod(x * y, 17), 128)
    bright = np.minimum(255, 2 * dark + 40)
    fused = (dark + bright) // 2
    return [dark.astype(np.uint8), bright.astype(np.uint8)], fused.astype(np.uint8)


def synthetic_sequence(height, width, seed=0):
    """Three RGB uint8 exposures (1/4, 1, 4x) of a smooth random radiance map."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(height // 16, 2), max(width // 16, 2), 3)).astype(np.float32)
    radiance = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    radiance = np.clip(radiance, 0.0, 1.0) ** 2.0 * 0.5
    return [np.clip(255.0 * (radiance * gain) ** (1 / 2.2) + 0.5, 0, 255).astype(np.uint8)
            for gain in (0.25, 1.0, 4.0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--megapixels', type=float, default=24.0)
    parser.add_argument('--repeat', type=int, default=2)
    args = parser.parse_args()
    result = {'cpu_count': os.cpu_count(), 'opencv_threads': cv2.getNumThreads(),
              'pool_workers': mef._worker_count()}

    sources, fused = test_vector()
    result['small_test_vector_single_scale_s'], single = best_time(
        lambda: mef.mef_ssim(sources, fused, multiscale=False), 5)
    result['small_test_vector_multiscale_s'], multi = best_time(
        lambda: mef.mef_ssim(sources, fused), 5)
    result['test_vector_single_scale'] = round(single, 10)
    result['test_vector_multiscale'] = round(multi, 10)

    seq = synthetic_sequence(512, 768)
    result['small_rgb_512x768_multiscale_s'], _ = best_time(lambda: mef.mef_ssim(seq, seq[1]), 5)

    width = int(round(np.sqrt(args.megapixels * 1e6 * 1.5)))
    height = int(round(args.megapixels * 1e6 / width))
    seq = synthetic_sequence(height, width)
    result['large_shape'] = [height, width, 3]
    result['large_rgb_multiscale_s'], score = best_time(lambda: mef.mef_ssim(seq, seq[1]),
                                                        args.repeat)
    result['large_rgb_multiscale_score'] = score
    result['large_grey_conversion_4_images_s'], greys = best_time(
        lambda: [mef.matlab_rgb2gray(img) for img in seq], 1)
    result['large_grey_multiscale_pooled_s'], pooled = best_time(
        lambda: mef.mef_ssim(greys[:3], greys[1]), args.repeat)
    workers = mef._MAX_WORKERS
    mef._MAX_WORKERS = 1
    try:
        result['large_grey_multiscale_workers_1_s'], serial = best_time(
            lambda: mef.mef_ssim(greys[:3], greys[1]), args.repeat)
    finally:
        mef._MAX_WORKERS = workers
    result['pooled_equals_serial'] = pooled == serial
    result['pool_speedup'] = round(result['large_grey_multiscale_workers_1_s']
                                   / result['large_grey_multiscale_pooled_s'], 3)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
