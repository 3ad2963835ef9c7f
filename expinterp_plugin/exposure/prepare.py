"""Turn a folder of bracketed sequences into the triplet layout (docs/design.md, "Data layout").

Each (dark, mid, bright) triplet with the requested EV spread becomes one scene NAME =
``<bracket>_<i>_<j>_<k>`` (indices into the bracket sorted by time), or several crops
``NAME_sNNN``. The CRF written to ``crf/KEY.npy`` is estimated on the whole (resized) images
before cropping: from the dark/bright pair only (``crf='pair'``, the honest setting for
evaluating interpolation) or from every frame of the bracket (``crf='bracket'``).

Handheld brackets (``align`` not 'off', issue 18): the dark and bright frames of each triplet
are registered onto its middle frame (``align.align_pair``) before anything else, and all three
are cut to an axis-aligned rectangle inside the area where both moved frames have data
(``common_area``), so no crop holds a pixel that a frame lacks; the CRF is estimated on that
rectangle. The motion and the rectangle are recorded per triplet in ``ALIGNMENT_NAME`` and the
summary. A triplet that cannot be aligned is skipped and reported; the others go on. With
``align='off'`` (the default) nothing of this runs and the output is what it always was.

Safety: the output folder carries a manifest (``MANIFEST_NAME``) and ``overwrite`` replaces
only a folder that has one, never one that equals, contains or lies inside the source; the new
folder is built beside it and swapped in whole (``io.replace_directory``), and leftovers of a
killed run (marked temporary siblings holding a manifest) are removed by the next one.
"""
import glob
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.align import ALIGN_OPTIONS, align_pair, common_area
from expinterp_plugin.exposure.brackets import FRAMES, bracket_exposures, is_image, select_triplets
from expinterp_plugin.exposure.crf import save_crf
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import (ImageError, atomic_directory, atomic_write_bytes,
                                          interrupted_writes, read_image, temp_sibling_prefix,
                                          write_image)
from expinterp_plugin.exposure.y0 import resolve_pair_crf

#: The file that marks a folder as written by ``prepare_triplets`` or another data-set writer
#: (``camera_sim``); JSON: tool, complete, src; pid while incomplete.
MANIFEST_NAME = '.expinterp-prepare.json'
PREPARE_TOOL = 'expinterp prepare'
#: Per-triplet alignment records of a data set prepared with ``align`` (JSON, in its root).
ALIGNMENT_NAME = 'alignment.json'
#: ``align`` values of ``prepare_triplets``: no registration, or a model of ``align.py``.


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


def load_frames(paths, max_side=None):
    """Images (RGB uint8/uint16) of ``paths``, each downscaled to ``max_side``; an error names
    the first frame whose size or bit depth differs from the first one's."""
    images = [resize_max_side(read_image(p), max_side) for p in paths]
    for p, img in zip(paths[1:], images[1:]):
        if img.shape != images[0].shape or img.dtype != images[0].dtype:
            raise ImageError(f'{p}: size/bit depth {img.shape} {img.dtype} differs from '
                             f'{paths[0]} {images[0].shape} {images[0].dtype}')
    return images


@lru_cache(maxsize=4)
def _bracket_crf(paths, times, max_side):
    """CRF of a whole bracket, estimated once per bracket and process (every triplet of the
    bracket asks for it); ``prepare_triplets`` empties the cache when it starts, so files
    changed between two runs in one process are read again."""
    return estimate_crf(load_frames(list(paths), max_side), list(times))


def _job_crf(job, images):
    """The CRF a triplet job writes: 'bracket', 'none', or any spec of ``resolve_pair_crf``
    ('pair', 'pair:METHOD', a preset, a file, dorf:/emor:) for its dark and bright frames."""
    if job['crf'] == 'bracket':
        return _bracket_crf(tuple(job['bracket_paths']), tuple(job['bracket_times']),
                            job['max_side'])
    if job['crf'] == 'none':
        return None
    return resolve_pair_crf(job['crf'], images[0], images[2], job['times'][0], job['times'][2])


#: How much brighter (mean code, fraction of the code range) a shorter exposure may be than a
#: longer one before their times are called swapped: film fog and noise move near-black frames
#: by ~0.5 % (Debevec's memorial scans), while swapped frames 2 EV apart differ by tens of %.
BRIGHTNESS_ORDER_TOLERANCE = 0.02


def check_brightness_order(paths, images):
    """Refuse frames whose mean brightness clearly falls as their exposure time grows (times in
    exposures.txt or EXIF swapped); ``paths`` and ``images`` (RGB uint8/uint16) ordered by time."""
    means = [float(img.mean()) for img in images]
    margin = BRIGHTNESS_ORDER_TOLERANCE * np.iinfo(images[0].dtype).max
    for (p0, m0), (p1, m1) in zip(zip(paths, means), zip(paths[1:], means[1:])):
        if m0 > m1 + margin:
            raise ImageError(f'{p0} (mean {m0:.1f}) is brighter than {p1} (mean {m1:.1f}) '
                             'although its exposure time is shorter: times swapped?')


def align_triplet(paths, images, model):
    """Register the dark and bright frame of a triplet onto its middle frame.

    Args:
        paths: the three frames' files (dark, mid, bright), for messages.
        images: RGB uint8/uint16 (H, W, 3) frames (dark, mid, bright), same shape and dtype.
        model: 'auto' or a model of ``align.MODELS``.
    Returns:
        (images, record): the three frames in the middle frame's geometry, cut to
        ``common_area`` of the two warped frames' data (same dtype, (h, w, 3) with h <= H,
        w <= W); record = {'dark': Alignment record, 'bright': ..., 'crop': [top, left, h, w]
        of the middle frame}.
    Raises:
        ImageError naming the frame that cannot be aligned (``align.estimate_alignment``).
    """
    dark, mid, bright = images
    valid = np.ones(mid.shape[:2], bool)
    warped, record = [], {}
    for path, role, img in ((paths[0], 'dark', dark), (paths[2], 'bright', bright)):
        try:
            alignment, moved, has_data = align_pair(mid, img, model)
        except ValueError as err:
            raise ImageError(f'{path}: cannot be aligned onto {Path(paths[1]).name}: {err}') \
                from None
        warped.append(moved)
        valid &= has_data
        record[role] = alignment.to_record()
    try:
        top, left, height, width = common_area(valid)
    except ValueError as err:
        raise ImageError(f'{paths[0]} + {paths[2]}: {err} with {Path(paths[1]).name}') from None
    record['crop'] = [top, left, height, width]
    frames = [img[top:top + height, left:left + width] for img in (warped[0], mid, warped[1])]
    return frames, record


def _prepare_triplet(job):
    """Write one triplet (or its crops) under job['dst']; return {'lines': exposures.txt
    lines, 'alignment': record or None, 'skipped': one-line reason or None}."""
    images = load_frames(job['paths'], job['max_side'])
    check_brightness_order(job['paths'], images)
    record = None
    if job['align'] != 'off':
        try:
            images, record = align_triplet(job['paths'], images, job['align'])
        except ImageError as err:
            return {'lines': [], 'alignment': None, 'skipped': str(err)}
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
    return {'lines': lines, 'alignment': record, 'skipped': None}


def plan_jobs(src, max_side=None, crop=None, step=None, crf='pair', ev=4.0, ev_tol=0.25,
              mid_tol=0.2, align='off'):
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
                'align': align,
            })
    return jobs


def read_manifest(folder, tool=PREPARE_TOOL):
    """The manifest dict of a folder written by ``prepare_triplets``; None when it has none."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get('tool') == tool else None


def write_manifest(folder, src, complete, tool=PREPARE_TOOL):
    """Mark ``folder`` as this tool's; an incomplete one also names the process building it
    (a later run leaves a live run's folder alone)."""
    manifest = {'tool': tool, 'complete': complete, 'src': str(Path(src).resolve())}
    if not complete:
        manifest['pid'] = os.getpid()
    atomic_write_bytes(Path(folder) / MANIFEST_NAME, json.dumps(manifest).encode())


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, TypeError):
        return True
    return True


def remove_interrupted_runs(dst, tool=PREPARE_TOOL):
    """Delete what killed runs for ``dst`` left beside it: temporary sibling folders that are
    provably ``prepare_triplets``' (a manifest inside, its process gone) or still empty. Where
    ``dst`` itself is missing (killed between the two renames of a non-atomic swap), a complete
    leftover is first renamed back to ``dst``. Returns the removed paths."""
    dst = Path(dst)
    if not dst.parent.is_dir():
        return []
    ours = []
    for path in dst.parent.glob(f'{glob.escape(temp_sibling_prefix(dst))}*'):
        if not path.is_dir() or path.is_symlink():
            continue
        manifest = read_manifest(path, tool)
        if manifest is None:
            # Killed before its manifest was in place: empty, or holding that write's part file.
            if set(path.iterdir()) <= set(interrupted_writes(path / MANIFEST_NAME)):
                ours.append(path)
        elif manifest.get('complete') or not _process_alive(manifest.get('pid')):
            ours.append(path)
    if not dst.exists():
        complete = [p for p in ours if (read_manifest(p, tool) or {}).get('complete')]
        if complete:
            restored = max(complete, key=lambda p: p.stat().st_mtime)
            os.replace(restored, dst)
            ours.remove(restored)
    for path in ours:
        shutil.rmtree(path, ignore_errors=True)
    return ours


def check_destination(src, dst, overwrite, tool=PREPARE_TOOL):
    """Refuse a ``dst`` that ``prepare_triplets`` must not write or replace: a file, a folder
    equal to / containing / inside ``src``, a non-empty folder without ``overwrite``, or (with
    it) a non-empty folder that lacks the manifest of a completed earlier run."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ImageError(f'{dst}: exists and is not a folder')
    real_src, real_dst = src.resolve(), dst.resolve()
    if real_dst == real_src:
        raise ImageError(f'{dst}: is the source folder {src}; choose another output folder')
    if real_dst in real_src.parents:
        raise ImageError(f'{dst}: contains the source folder {src}; choose another output folder')
    if real_src in real_dst.parents:
        raise ImageError(f'{dst}: lies inside the source folder {src}; choose a folder outside it')
    if not dst.is_dir() or not any(dst.iterdir()):
        return
    if not overwrite:
        raise ImageError(f'{dst}: exists and is not empty (use --overwrite)')
    manifest = read_manifest(dst, tool)
    if manifest is None or not manifest.get('complete'):
        raise ImageError(f'{dst}: not written by {tool} (no {MANIFEST_NAME}); '
                         '--overwrite replaces only its own output folders: remove it yourself '
                         'or choose another')


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
                     progress=None, align='off'):
    """Build the triplet layout at ``dst`` from brackets under ``src``; returns a summary dict.

    The layout is assembled in a temporary sibling folder and swapped into place at the end
    (``dst`` is always the complete old or the complete new dataset), marked as this function's
    by ``MANIFEST_NAME``. ``overwrite`` may replace only such a folder (``check_destination``).
    ``progress`` wraps an iterable (e.g. tqdm). ``lmdb_writer(root, keys)``, when given, adds
    LMDB copies of the frame folders before the swap (the numeric core does not import BasicSR
    itself). ``align`` ('off', 'auto' or a model of ``align.MODELS``) registers each triplet
    onto its middle frame (module docstring); the summary then adds 'align', 'alignment'
    ({triplet name: record}, also written to ``ALIGNMENT_NAME``) and 'skipped' ([{'name',
    'reason'}] of the triplets that could not be aligned). Raises ImageError when none could.
    """
    if align not in ALIGN_OPTIONS:
        raise ValueError(f'align {align!r}: choose one of {", ".join(ALIGN_OPTIONS)}')
    dst = Path(dst)
    _bracket_crf.cache_clear()
    remove_interrupted_runs(dst)
    check_destination(src, dst, overwrite)
    jobs = plan_jobs(src, max_side, crop, step, crf, ev, ev_tol, mid_tol, align)
    if not jobs:
        raise ImageError(f'{src}: no {ev} EV triplets with a geometric-mean middle frame')
    with atomic_directory(dst) as tmp:
        write_manifest(tmp, src, complete=False)
        for job in jobs:
            job['dst'] = str(tmp)
        results = run_jobs(_prepare_triplet, jobs, workers, progress)
        lines = [line for result in results for line in result['lines']]
        skipped = [{'name': job['name'], 'reason': result['skipped']}
                   for job, result in zip(jobs, results) if result['skipped']]
        if len(skipped) == len(jobs):
            raise ImageError(f'{src}: no triplet could be aligned ({skipped[0]["reason"]})')
        alignment = {job['name']: result['alignment'] for job, result in zip(jobs, results)
                     if result['alignment'] is not None}
        if align != 'off':
            atomic_write_bytes(tmp / ALIGNMENT_NAME,
                               json.dumps({'align': align, 'reference': 'mid',
                                           'triplets': alignment}, indent=1).encode())
        header = '# NAME t_low t_mid t_high (seconds)\n'
        atomic_write_bytes(tmp / 'exposures.txt', (header + '\n'.join(lines) + '\n').encode())
        if lmdb_writer is not None:
            lmdb_writer(tmp, [line.split()[0] for line in lines])
        write_manifest(tmp, src, complete=True)
    summary = {'root': str(dst), 'triplets': len(jobs) - len(skipped), 'samples': len(lines),
               'scenes': sorted(alignment if align != 'off' else {j['name'] for j in jobs}),
               'lmdb': lmdb_writer is not None}
    if align != 'off':
        summary.update(align=align, alignment=alignment, skipped=skipped)
    return summary
