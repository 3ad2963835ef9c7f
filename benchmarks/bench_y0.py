"""Speed of the model-driven y0 (expinterp_plugin.exposure.y0) against a trivial per-pixel op.

Prints one JSON object. Every figure is measured in this run, the two sides of each ratio
interleaved repetition by repetition so that a busy machine slows both alike. Times are seconds,
the median of --repeat runs, as wall clock (``*_s``) and as this process's CPU time
(``*_cpu_s``, less disturbed by other processes on a shared machine).

- ``y0_gather_8bit``: ``Y0Mapper(dark, bright)`` on an 8-bit RGB pair of --width x --height
  (default 6000x4000, 24 MP): the in-memory compute from the two uint8 (H, W, 3) arrays to a new
  float32 (H, W, 3) array in [0, 1], i.e. reading both inputs, the table gather and writing the
  output (no file I/O; the 256x256x3 table is built beforehand and timed separately).
- ``trivial_op``: ``(dark.astype(np.float32) + bright) / 510`` on the same arrays, which also
  reads both inputs and produces a new float32 array: the floor any per-pixel op pays.
- ``ratio_gather_to_trivial``: the ratio of the two (target <= 3).
- ``table_build``: ``Y0Mapper(...)`` construction: both linear IMF tables and the 256x256x3
  blend table.
- ``crf_estimate_pair``: ``estimate_crf([dark, bright], times)`` (the default estimator, the
  DoRF prior's ``emor``) at the full size on one core (OpenMP/BLAS/OpenCV threads set to 1
  before numpy loads; target <= 0.5).
- ``pair_exposure_times_unknown``: ``estimate_pair_exposure(dark, bright)``, the joint ratio and
  response fit used when the times are unknown, at the full size on one core.
- ``y0_direct_16bit``: ``Y0Mapper`` on a 16-bit pair of --size16 pixels per side ratio
  (default 1500x1000): per-pixel IMF lookups and the float64 blend, no table.

Content: a textured random radiance map (smooth blobs plus pixel noise over 10 stops) seen
through an sRGB camera at 1/16 s and 1 s (4 EV), so codes are spread as in a photograph.

    python benchmarks/bench_y0.py [--width 6000] [--height 4000] [--repeat 5]
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from expinterp_plugin.exposure.crf import preset_crf  # noqa: E402
from expinterp_plugin.exposure.estimate import estimate_crf, estimate_pair_exposure  # noqa: E402
from expinterp_plugin.exposure.y0 import Y0Mapper  # noqa: E402

T_DARK, T_BRIGHT = 1 / 16, 1.0


def radiance_map(height, width, seed=0):
    """float32 (H, W, 3) scene radiance: smooth blobs and pixel noise, log-spread over 10 stops."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(height // 64, 2), max(width // 64, 2))).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    stops = 10.0 * np.clip(0.8 * smooth + 0.2 * rng.random((height, width), np.float32), 0, 1)
    radiance = np.exp2(stops - 9.0)
    return radiance[:, :, None] * np.array([0.8, 1.0, 1.15], np.float32)


def srgb_codes(radiance, t, dtype):
    """Clipped sRGB encoding of radiance * t, rounded to ``dtype`` codes."""
    v = np.clip(radiance * t, 0.0, 1.0)
    v = np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    peak = np.iinfo(dtype).max
    return np.clip(np.rint(v * peak), 0, peak).astype(dtype)


def interleaved_medians(fns, repeat):
    """{name: (median wall s, median CPU s)} of each function, run in turn ``repeat`` times."""
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {name: (float(np.median(wall[name])), float(np.median(cpu[name]))) for name in fns}


def add_figure(result, name, times):
    result[f'{name}_s'] = round(times[0], 4)
    result[f'{name}_cpu_s'] = round(times[1], 4)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--width', type=int, default=6000)
    parser.add_argument('--height', type=int, default=4000)
    parser.add_argument('--width16', type=int, default=1500)
    parser.add_argument('--height16', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    result = {'machine': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
              'numpy': np.__version__, 'opencv_threads': cv2.getNumThreads(),
              'size_8bit': f'{args.width}x{args.height}',
              'size_16bit': f'{args.width16}x{args.height16}', 'repeat': args.repeat,
              # Other processes share the machine: wall times stretch with the load, CPU times less.
              'load_average_1min': round(os.getloadavg()[0], 2)}

    radiance = radiance_map(args.height, args.width)
    dark, bright = (srgb_codes(radiance, t, np.uint8) for t in (T_DARK, T_BRIGHT))
    del radiance
    srgb = preset_crf('srgb')
    mapper = Y0Mapper(srgb, T_DARK, T_BRIGHT)

    pair = interleaved_medians({
        'y0_gather_8bit': lambda: mapper(dark, bright),
        'trivial_op': lambda: (dark.astype(np.float32) + bright) / 510,
    }, args.repeat)
    for name, times in pair.items():
        add_figure(result, name, times)
    result['ratio_gather_to_trivial'] = round(pair['y0_gather_8bit'][0] / pair['trivial_op'][0], 3)
    result['ratio_gather_to_trivial_cpu'] = round(
        pair['y0_gather_8bit'][1] / pair['trivial_op'][1], 3)

    add_figure(result, 'table_build', interleaved_medians(
        {'build': lambda: Y0Mapper(srgb, T_DARK, T_BRIGHT)}, args.repeat)['build'])
    add_figure(result, 'crf_estimate_pair', interleaved_medians(
        {'estimate': lambda: estimate_crf([dark, bright], [T_DARK, T_BRIGHT])},
        args.repeat)['estimate'])
    add_figure(result, 'pair_exposure_times_unknown', interleaved_medians(
        {'joint': lambda: estimate_pair_exposure(dark, bright)}, args.repeat)['joint'])
    del dark, bright

    radiance = radiance_map(args.height16, args.width16, seed=1)
    dark16, bright16 = (srgb_codes(radiance, t, np.uint16) for t in (T_DARK, T_BRIGHT))
    mapper16 = Y0Mapper(preset_crf('srgb', levels=65536), T_DARK, T_BRIGHT)
    add_figure(result, 'y0_direct_16bit', interleaved_medians(
        {'direct': lambda: mapper16(dark16, bright16)}, args.repeat)['direct'])
    megapixels16 = args.width16 * args.height16 / 1e6
    result['y0_direct_16bit_s_per_megapixel'] = round(result['y0_direct_16bit_s'] / megapixels16, 4)
    result['targets_met'] = {'ratio_le_3': result['ratio_gather_to_trivial'] <= 3,
                             'crf_estimate_le_0_5_s': result['crf_estimate_pair_s'] <= 0.5}
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
