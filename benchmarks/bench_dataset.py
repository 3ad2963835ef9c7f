"""Throughput of ExposureTripletDataset: 128x128 training crops per second in one process.

Prints one JSON object. One process with one OpenCV and one torch thread stands for one
DataLoader worker (num_worker 0). Every layout is built from the same synthetic scenes of
--size (default 600x400, the paper's training images; `expinterp_plugin.exposure.synth`) in a
temporary folder, and measured side by side in this run:

  disk_full:      ROOT/{low,mid,high}/NAME.png, whole images (three full PNG decodes per crop);
  lmdb_full_png:  the same images in LMDBs as BasicSR writes them (PNG, compression level 1);
  lmdb_full_ppm:  the same with uncompressed PPM values (write_triplet_lmdbs codec='ppm');
  disk_sub:       sub-images of --sub pixels every --step (keys NAME_sNNN) as PNG files;
  lmdb_sub_png:   those sub-images in PNG LMDBs (the usual BasicSR answer to slow decoding);
  lmdb_sub_ppm:   those sub-images in PPM LMDBs.

For each layout: crops_per_s (end to end, ``dataset[i]``), meets_target (>= 500 crops/s per
worker) and ms_per_crop split into read_decode (FileClient read + decode of the three frames),
augment (paired random crop + flips and rotation), y0 (the scene's Y0Mapper table gather on the
crop) and to_tensor (float conversion and the lq/gt tensors), so the bottleneck is visible;
construct_s is the dataset's start-up (CRF files loaded, y0 tables built).
estimating_crfs_construct_s is that start-up for the disk layout without crf/, where every
scene's CRF is estimated from its full low/high pair.

    python benchmarks/bench_dataset.py [--scenes 8] [--samples 400] [--mode hybrid]
"""
import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import cv2
import torch

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset
from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.io import read_image, read_table, write_image
from expinterp_plugin.exposure.prepare import crop_positions
from expinterp_plugin.exposure.synth import write_synthetic_dataset
from expinterp_plugin.triplet_store import write_triplet_lmdbs
TARGET_CROPS_PER_S = 500


def lmdb_layout(src, dst, codec):
    """``dst``: the disk layout ``src`` (linked) plus its frames in LMDBs encoded as ``codec``."""
    dst.mkdir()
    for item in (*FRAMES, 'crf', 'exposures.txt'):
        os.symlink(src / item, dst / item)
    write_triplet_lmdbs(dst, codec=codec)
    return dst


def write_sub_images(full, dst, sub, step):
    """Cut every scene of the disk layout ``full`` into NAME_sNNN sub-images under ``dst``."""
    lines, keys = [], []
    for name, times in read_table(full / 'exposures.txt', 3).items():
        frames = [read_image(full / f / f'{name}.png') for f in FRAMES]
        h, w = frames[0].shape[:2]
        windows = [(y, x) for y in crop_positions(h, sub, step)
                   for x in crop_positions(w, sub, step)]
        for n, (y, x) in enumerate(windows):
            key = f'{name}_s{n:03d}'
            for frame, img in zip(FRAMES, frames):
                write_image(dst / frame / f'{key}.png', img[y:y + sub, x:x + sub])
            lines.append(' '.join([key, *(f'{t:.10g}' for t in times)]))
            keys.append(key)
        (dst / 'crf').mkdir(parents=True, exist_ok=True)
        (dst / 'crf' / f'{name}.npy').write_bytes((full / 'crf' / f'{name}.npy').read_bytes())
    (dst / 'exposures.txt').write_text('\n'.join(lines) + '\n')
    return keys


def measure(dataset, samples):
    """End-to-end crops/s and the per-stage split (ms per crop) over ``samples`` crops."""
    n = len(dataset)
    random.seed(0)
    start = time.perf_counter()
    for i in range(samples):
        dataset[i % n]
    end_to_end = time.perf_counter() - start

    stages = dict(read_decode=0.0, augment=0.0, y0=0.0, to_tensor=0.0)
    random.seed(0)
    for i in range(samples):
        index = i % n
        t0 = time.perf_counter()
        low, mid, high = dataset.load_frames(index)
        t1 = time.perf_counter()
        low, mid, high = dataset.augment_frames(index, low, mid, high)
        t2 = time.perf_counter()
        dataset.mappers[index](low, high)
        t3 = time.perf_counter()
        dataset.make_sample(index, low, mid, high)
        t4 = time.perf_counter()
        stages['read_decode'] += t1 - t0
        stages['augment'] += t2 - t1
        stages['y0'] += t3 - t2
        stages['to_tensor'] += (t4 - t3) - (t3 - t2)  # make_sample = y0 + tensors
    return {
        'crops_per_s': round(samples / end_to_end, 1),
        'ms_per_crop': {k: round(1e3 * v / samples, 3) for k, v in stages.items()},
        'meets_target': samples / end_to_end >= TARGET_CROPS_PER_S,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scenes', type=int, default=8)
    parser.add_argument('--size', default='600x400', help='scene WIDTHxHEIGHT')
    parser.add_argument('--crop', type=int, default=128, help='gt_size')
    parser.add_argument('--sub', type=int, default=192, help='sub-image side')
    parser.add_argument('--step', type=int, default=144, help='sub-image stride')
    parser.add_argument('--samples', type=int, default=400)
    parser.add_argument('--mode', default='hybrid', choices=['hybrid', 'direct', 'conditioned'])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split('x'))
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    result = {'scenes': args.scenes, 'size': [width, height], 'gt_size': args.crop,
              'sub_image': args.sub, 'sub_step': args.step, 'samples': args.samples,
              'mode': args.mode, 'threads': 1, 'target_crops_per_s': TARGET_CROPS_PER_S,
              'layouts': {}}
    with tempfile.TemporaryDirectory(prefix='bench_dataset_') as tmp:
        tmp = Path(tmp)
        write_synthetic_dataset(tmp / 'synth', scenes=args.scenes, val_scenes=0,
                                size=(width, height))
        full = tmp / 'synth' / 'train'
        result['sub_images'] = len(write_sub_images(full, tmp / 'sub', args.sub, args.step))
        layouts = {'disk_full': (full, 'disk'),
                   'lmdb_full_png': (lmdb_layout(full, tmp / 'full_png', 'png'), 'lmdb'),
                   'lmdb_full_ppm': (lmdb_layout(full, tmp / 'full_ppm', 'ppm'), 'lmdb'),
                   'disk_sub': (tmp / 'sub', 'disk'),
                   'lmdb_sub_png': (lmdb_layout(tmp / 'sub', tmp / 'sub_png', 'png'), 'lmdb'),
                   'lmdb_sub_ppm': (lmdb_layout(tmp / 'sub', tmp / 'sub_ppm', 'ppm'), 'lmdb')}
        no_crf = tmp / 'no_crf'
        no_crf.mkdir()
        for item in (*FRAMES, 'exposures.txt'):
            os.symlink(full / item, no_crf / item)
        started = time.perf_counter()
        ExposureTripletDataset({'name': 'no_crf', 'dataroot': str(no_crf), 'phase': 'val'})
        result['estimating_crfs_construct_s'] = round(time.perf_counter() - started, 3)
        for name, (root, backend) in layouts.items():
            started = time.perf_counter()
            dataset = ExposureTripletDataset({
                'name': name, 'dataroot': str(root), 'io_backend': {'type': backend},
                'phase': 'train', 'gt_size': args.crop, 'use_hflip': True, 'use_rot': True,
                'mode': args.mode})
            built = time.perf_counter() - started
            result['layouts'][name] = {'construct_s': round(built, 3), **measure(dataset,
                                                                                 args.samples)}
            del dataset  # closes its LMDB environments before the next layout opens its own
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
