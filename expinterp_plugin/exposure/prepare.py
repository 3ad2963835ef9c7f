"""Turn a folder of bracketed sequences into the triplet layout (docs/design.md, "Data layout").

Each (dark, mid, bright) triplet with the requested EV spread becomes one scene NAME =
``<bracket>_<i>_<j>_<k>`` (indices into the bracket sorted by time), or several crops
``NAME_sNNN``. The CRF written to ``crf/KEY.npy`` is estimated on the whole (resized) images
before cropping: from the dark/bright pair only (``crf='pair'``, the honest setting for
evaluating interpolation) or from every frame of the bracket (``crf='bracket'``).
"""
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.brackets import FRAMES, bracket_exposures, is_image, select_triplets
from expinterp_plugin.exposure.crf import resolve_crf, save_crf
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import (ImageError, atomic_directory, atomic_write_bytes,
                                          read_image, write_image)


def find_brackets(src):
    """Bracket folders under ``src``: its sub-folders holding images, or ``src`` itself."""
    src = Path(src)
    if not src.is_dir():
        raise ImageError(f'{src}: not a folder')
    subs = sorted(d for d in src.iterdir() if d.is_dir() and any(is_image(p) for p in d.iterdir()))
    if subs:
        return subs
    if any(is_image(p) for p in src.iterdir()):
        return [src]
    raise ImageError(f'{src}: no bracket folders with images found')


def resize_max_side(img, max_side):
    """Downscale (INTER_AREA) so that the longer side is at most ``max_side``; dtype kept."""
    h, w = img.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def crop_positions(length, crop, step):
    """Top-left offsets covering [0, length) with windows of ``crop`` every ``step``."""
    if length <= crop:
        return [0]
    positions = list(range(0, length - crop + 1, step))
    if positions[-1] != length - crop:
        positions.append(length - crop)
    return positions


def _load_frames(paths, max_side):
    images = [resize_max_side(read_image(p), max_side) for p in paths]
    for p, img in zip(paths[1:], images[1:]):
        if img.shape != images[0].shape or img.dtype != images[0].dtype:
            raise ImageError(f'{p}: size/bit depth {img.shape} {img.dtype} differs from '
                             f'{paths[0]} {images[0].shape} {images[0].dtype}')
    return images


def _job_crf(job, images):
    if job['crf'] == 'pair':
        return estimate_crf([images[0], images[2]], [job['times'][0], job['times'][2]])
    if job['crf'] == 'bracket':
        frames = _load_frames(job['bracket_paths'], job['max_side'])
        return estimate_crf(frames, job['bracket_times'])
    if job['crf'] == 'none':
        return None
    return resolve_crf(job['crf'], levels=np.iinfo(images[0].dtype).max + 1)


def _prepare_triplet(job):
    """Write one triplet (or its crops) under job['dst']; return exposures.txt lines."""
    images = _load_frames(job['paths'], job['max_side'])
    crf = _job_crf(job, images)
    dst, name, crop, step = Path(job['dst']), job['name'], job['crop'], job['step']
    h, w = images[0].shape[:2]
    if crop:
        windows = [(y, x) for y in crop_positions(h, crop, step) for x in crop_positions(w, crop, step)]
        keys = [f'{name}_s{n:03d}' for n in range(len(windows))]
    else:
        windows, keys = [(0, 0)], [name]
    size_h, size_w = (min(crop, h), min(crop, w)) if crop else (h, w)
    t_low, t_mid, t_high = job['times']
    lines = []
    for key, (y, x) in zip(keys, windows):
        for frame, img in zip(FRAMES, images):
            write_image(dst / frame / f'{key}.png', img[y:y + size_h, x:x + size_w])
        if crf is not None:
            save_crf(crf, dst / 'crf' / f'{key}.npy')
        lines.append(f'{key} {t_low:.10g} {t_mid:.10g} {t_high:.10g}')
    return lines


def plan_jobs(src, max_side=None, crop=None, step=None, crf='pair', ev=4.0, ev_tol=0.25,
              mid_tol=0.2):
    """One job per (dark, mid, bright) triplet found in the brackets under ``src``."""
    jobs = []
    for bracket in find_brackets(src):
        frames = bracket_exposures(bracket)
        times = [t for _, t in frames]
        for i, j, k in select_triplets(times, ev, ev_tol, mid_tol):
            jobs.append({
                'name': f'{bracket.name}_{i:02d}_{j:02d}_{k:02d}',
                'paths': [frames[n][0] for n in (i, j, k)],
                'times': [times[n] for n in (i, j, k)],
                'bracket_paths': [p for p, _ in frames],
                'bracket_times': times,
                'max_side': max_side, 'crop': crop, 'step': step or crop, 'crf': crf,
            })
    return jobs


def check_output_root(dst, overwrite=False):
    """``dst`` as a Path once it may become a new data set: absent, an empty folder, or (with
    ``overwrite``) a folder to replace; ImageError naming it otherwise."""
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ImageError(f'{dst}: exists and is not a folder')
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise ImageError(f'{dst}: exists and is not empty (use --overwrite)')
    return dst


def run_jobs(worker, jobs, workers=1, progress=None):
    """[worker(job) for job in jobs], in a pool of ``workers`` processes when more than one
    (results in job order); ``progress`` wraps the iteration (called as progress(it, total=N))."""
    wrap = progress or (lambda it, **_: it)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(wrap(pool.map(worker, jobs), total=len(jobs)))
    return [worker(job) for job in wrap(jobs, total=len(jobs))]


def prepare_triplets(src, dst, max_side=None, crop=None, step=None, crf='pair', ev=4.0,
                     ev_tol=0.25, mid_tol=0.2, lmdb_writer=None, workers=1, overwrite=False,
                     progress=None):
    """Build the triplet layout at ``dst`` from brackets under ``src``; returns a summary dict.

    The layout is assembled in a temporary sibling folder and renamed into place at the end, so
    an interrupted run leaves no half-written dataset. ``progress`` wraps an iterable (e.g. tqdm).
    ``lmdb_writer(root, keys)``, when given, adds LMDB copies of the frame folders before the
    rename (the numeric core does not import BasicSR itself).
    """
    dst = check_output_root(dst, overwrite)
    jobs = plan_jobs(src, max_side, crop, step, crf, ev, ev_tol, mid_tol)
    if not jobs:
        raise ImageError(f'{src}: no {ev} EV triplets with a geometric-mean middle frame')
    with atomic_directory(dst) as tmp:
        for job in jobs:
            job['dst'] = str(tmp)
        results = run_jobs(_prepare_triplet, jobs, workers, progress)
        lines = [line for result in results for line in result]
        header = '# NAME t_low t_mid t_high (seconds)\n'
        atomic_write_bytes(tmp / 'exposures.txt', (header + '\n'.join(lines) + '\n').encode())
        if lmdb_writer is not None:
            lmdb_writer(tmp, [line.split()[0] for line in lines])
    return {'root': str(dst), 'triplets': len(jobs), 'samples': len(lines),
            'scenes': sorted({j['name'] for j in jobs}), 'lmdb': lmdb_writer is not None}
