"""The synthetic data set on disk: :func:`write_synthetic_dataset` renders scenes and writes
them in the triplet layout (docs/design.md, "Data layout") with their true CRFs.
"""
import io
import json
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.io import atomic_write_bytes, write_image
from expinterp_plugin.exposure.synth.camera import crf_table, sample_camera
from expinterp_plugin.exposure.synth.capture import (DEFAULT_EV, DEFAULT_READ_NOISE,
                                                     DEFAULT_SHOT_NOISE, DEFAULT_TARGET_MEDIAN,
                                                     bracket_stats, bracket_times,
                                                     choose_mid_exposure, render_bracket)
from expinterp_plugin.exposure.synth.scenes import DEFAULT_SIZE, parse_size, render_scene

DEFAULT_SCENES = 24
DEFAULT_VAL_SCENES = 4
SPLITS = ('train', 'val')
_GENERATED_FILE = re.compile(r'^scene\d{4,}\.(png|npy)$')
#: Scene i draws its camera and noise from default_rng([seed + i, CAMERA_STREAM]).
CAMERA_STREAM = 0x5EED


def scene_name(index):
    """File stem of the scene with global index ``index`` (train first, then val)."""
    return f'scene{index:04d}'


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _check_destination(dst, overwrite):
    if dst.exists() and not dst.is_dir():
        raise NotADirectoryError(f'{dst}: exists and is not a folder')
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        raise FileExistsError(f'{dst}: folder is not empty (use --overwrite / overwrite=True to '
                              'write into it)')


def _remove_stale(dst, names_by_split):
    """Deletes generated files (sceneNNNN.png/.npy, exposures.txt) this run does not rewrite."""
    for split in SPLITS:
        keep = names_by_split.get(split, set())
        for folder in (*FRAMES, 'crf'):
            path = dst / split / folder
            if not path.is_dir():
                continue
            for f in path.iterdir():
                if _GENERATED_FILE.match(f.name) and f.stem not in keep:
                    f.unlink()
        if not keep and (dst / split / 'exposures.txt').is_file():
            (dst / split / 'exposures.txt').unlink()


def _exposures_text(rows, header):
    lines = [f'# {h}' for h in header]
    lines.append('# NAME t_low t_mid t_high  (seconds; dark, mid = sqrt(t_low t_high), bright)')
    lines += [f'{name} {t[0]:.9g} {t[1]:.9g} {t[2]:.9g}' for name, t in rows]
    return ('\n'.join(lines) + '\n').encode()


def write_synthetic_dataset(dst, scenes=DEFAULT_SCENES, val_scenes=DEFAULT_VAL_SCENES,
                            size=DEFAULT_SIZE, seed=0, ev=DEFAULT_EV, bit_depth=8,
                            shot_noise=DEFAULT_SHOT_NOISE, read_noise=DEFAULT_READ_NOISE,
                            target_median=DEFAULT_TARGET_MEDIAN, overwrite=False, progress=False):
    """Render and write synthetic exposure triplets in the triplet layout.

    Writes, for split in train (``scenes`` scenes) and val (``val_scenes``):
    ``dst/split/{low,mid,high}/NAME.png`` (RGB, 8- or 16-bit), ``dst/split/exposures.txt``
    (``NAME t_low t_mid t_high`` after a ``#`` header) and ``dst/split/crf/NAME.npy`` (the true
    CRF of :func:`crf_table`, float64 (2**bit_depth)x3). Scene with global index i (train
    0..scenes-1, then val) is named ``scene_name(i)`` and rendered from seed ``seed + i``; its
    camera and noise come from the generator seeded with (seed + i, a fixed stream constant).
    Every file is written atomically. A non-empty ``dst`` is refused unless ``overwrite``; then
    stale generated files (sceneNNNN.*) that this run does not rewrite are removed, so folders
    and exposures.txt agree.

    Returns a JSON-serialisable summary dict: the settings, per-split scene counts and names,
    per-scene times and :func:`bracket_stats` plus ``peak_over_mean`` (max radiance / mean),
    aggregates of those, and ``seconds`` (wall time).
    """
    from tqdm import tqdm

    dst = Path(dst)
    width, height = parse_size(size)
    if scenes < 1 or val_scenes < 0:
        raise ValueError(f'need scenes >= 1 and val_scenes >= 0, got {scenes} and {val_scenes}')
    if seed < 0:
        raise ValueError(f'seed must be non-negative, got {seed}')
    if not ev > 0:
        raise ValueError(f'ev must be positive, got {ev}')
    if bit_depth not in (8, 16):
        raise ValueError(f'bit_depth must be 8 or 16, got {bit_depth}')
    _check_destination(dst, overwrite)

    start = time.perf_counter()
    counts = {'train': scenes, 'val': val_scenes}
    plan = [(split, i) for i, split in enumerate(['train'] * scenes + ['val'] * val_scenes)]
    names_by_split = {s: {scene_name(i) for split, i in plan if split == s} for s in SPLITS}
    dst.mkdir(parents=True, exist_ok=True)
    if overwrite:
        _remove_stale(dst, names_by_split)

    per_scene = []
    rows = {s: [] for s in SPLITS}
    for split, i in tqdm(plan, desc='synth', unit='scene', disable=not progress):
        name = scene_name(i)
        radiance = render_scene(seed + i, (width, height))
        rng = np.random.default_rng([seed + i, CAMERA_STREAM])
        camera = sample_camera(rng)
        times = bracket_times(choose_mid_exposure(radiance, camera, target_median), ev)
        frames = render_bracket(radiance, times, camera, rng, shot_noise, read_noise, bit_depth)
        for folder, frame in zip(FRAMES, frames):
            write_image(dst / split / folder / f'{name}.png', frame)
        atomic_write_bytes(dst / split / 'crf' / f'{name}.npy',
                           _npy_bytes(crf_table(camera, bit_depth)))
        rows[split].append((name, times))
        per_scene.append({'name': name, 'split': split, 'seed': seed + i, 'times': list(times),
                          **bracket_stats(*frames),
                          'peak_over_mean': float(radiance.max() / radiance.mean()),
                          'camera': asdict(camera)})

    header = [f'expinterp synthetic brackets: seed {seed}, {width}x{height}, {ev:g} EV, '
              f'{bit_depth}-bit, shot_noise {shot_noise:g}, read_noise {read_noise:g}']
    for split in SPLITS:
        if rows[split]:
            atomic_write_bytes(dst / split / 'exposures.txt', _exposures_text(rows[split], header))

    def aggregate(key):
        values = [s[key] for s in per_scene]
        return {'min': min(values), 'mean': float(np.mean(values)), 'max': max(values)}

    return {
        'dst': str(dst), 'seed': seed, 'size': [width, height], 'ev': ev, 'bit_depth': bit_depth,
        'shot_noise': shot_noise, 'read_noise': read_noise, 'target_median': target_median,
        'splits': {s: {'scenes': counts[s], 'names': [n for n, _ in rows[s]]} for s in SPLITS},
        'scenes': len(per_scene),
        'mid_median': aggregate('mid_median'), 'high_clipped': aggregate('high_clipped'),
        'low_black': aggregate('low_black'), 'peak_over_mean': aggregate('peak_over_mean'),
        'per_scene': per_scene,
        'seconds': time.perf_counter() - start,
    }


def summary_json(summary):
    """The summary of :func:`write_synthetic_dataset` as indented JSON text."""
    return json.dumps(summary, indent=2)
