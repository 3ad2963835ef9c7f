"""Throughput of the camera simulator and CPU speed of the CurveRefiner (one JSON object).

- ``render_samples_per_s``: ``camera_sim.simulate_sample`` (radiance window, camera, three
  frames with noise, 8-bit response and JPEG) at --size, one process, radiance maps already
  loaded (the first sample of each map decodes it once per process; timed separately).
- ``sample_with_y0_crf_per_s``: the same plus the pair CRF estimate that
  ``expinterp simulate`` stores for y0 (the library default 'pair' path).
- ``refiner_s_per_mp``: CurveRefiner (options/refiner_sim.yml) forward on a 1024x1024
  9-channel input, best of --repeat, wall clock per torch thread count; ``refiner_cpu_s_per_mp``
  the same forward on one thread as this process's CPU time (what a quiet core would take; on
  a shared machine wall clock also counts the time other processes hold the core).

    python benchmarks/bench_simulate.py [--data-root DIR] [--size 256] [--samples 40]
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from data_root import add_data_root_argument, data_root, require  # noqa: E402

from expinterp_plugin.exposure import camera_sim as cs  # noqa: E402
from expinterp_plugin.exposure.y0 import DEFAULT_PAIR_CRF, resolve_pair_crf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def refiner_speed(threads, repeat, clock=time.perf_counter, side=1024):
    import torch
    import expinterp_plugin  # noqa: F401  (compat before basicsr's first import)
    from basicsr.archs import build_network
    torch.set_num_threads(threads)
    opt = yaml.safe_load((ROOT / 'options' / 'refiner_sim.yml').read_text())
    net = build_network(dict(opt['network_g'])).eval()
    x = torch.rand(1, opt['network_g']['in_channels'], side, side)
    best = float('inf')
    with torch.no_grad():
        net(x)
        for _ in range(repeat):
            start = clock()
            net(x)
            best = min(best, clock() - start)
    return best / (side * side / 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root_argument(parser)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--samples', type=int, default=40)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    root = data_root(args.data_root)
    hdr, dorf_path = require(root, 'hdr'), require(root, 'crf', 'dorf_201_crf.mat')
    files, skipped = cs.radiance_files(hdr)
    dorf = cs.load_dorf(dorf_path)
    train, _ = cs.dorf_split(dorf[0].shape[0])
    cfg = replace(cs.SimConfig(), size=args.size)
    start = time.perf_counter()
    for path in files:
        cs.load_radiance(path)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    samples = [cs.simulate_sample(0, i, files, train, dorf, cfg) for i in range(args.samples)]
    render_s = time.perf_counter() - start
    start = time.perf_counter()
    for s in samples:
        resolve_pair_crf(DEFAULT_PAIR_CRF, s['low'], s['high'], s['times'][0], s['times'][2])
    crf_s = time.perf_counter() - start
    print(json.dumps({
        'size': args.size, 'samples': args.samples, 'radiance_files': len(files),
        'skipped_exr': len(skipped), 'radiance_load_s': round(load_s, 2),
        'render_samples_per_s': round(args.samples / render_s, 2),
        'sample_with_y0_crf_per_s': round(args.samples / (render_s + crf_s), 2),
        'refiner_s_per_mp': {str(t): round(refiner_speed(t, args.repeat), 3) for t in (1, 2)},
        'refiner_cpu_s_per_mp': round(refiner_speed(1, args.repeat, time.process_time), 3),
    }, indent=1))


if __name__ == '__main__':
    main()
