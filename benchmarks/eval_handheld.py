"""Alignment and deghosting on moved real brackets and on real handheld sequences (JSON).

(a) Synthetic motion on the real brackets (data root: --data-root, $EXPINTERP_DATA or
    ../shared/data) (every bracket's 4-EV triplets, at
    --max-side): seeded similarity warps of the bright frame (shift <= 2 % of the width,
    rotation <= 1 degree, made at full resolution) and one block of the bright frame moved by
    1/6 of the width. y0 (pair CRF, known times) is scored against the real middle frame:
    unmoved, moved, aligned (over the common area) and deghosted (over the frame).
(b) The real sequences of handheld/ under the data root: the pair whose time ratio is closest to 16
    and the frame nearest their geometric mean as ground truth. Motion is estimated at full
    resolution (timed); the real middle frame, which moved too, is aligned onto the dark
    reference for scoring, and y0 is scored over the area all three share, with and without
    aligning the bright frame, and with the motion mask.
(c) Time of alignment + mask on a 24 MP pair (a bracket upscaled), with OpenCV on --threads.

Figures (y0 before/after, mask overlays) go to --figures (default /tmp/handheld_figs).

Usage: python benchmarks/eval_handheld.py [--max-side 512] [--data-root DIR] [--trials 3]
"""
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_root import data_root, require  # noqa: E402
from real_brackets import arguments  # noqa: E402

from expinterp_plugin.exposure.align import (align_pair, estimate_alignment,  # noqa: E402
                                             warp_to_reference)
from expinterp_plugin.exposure.brackets import bracket_exposures, select_triplets  # noqa: E402
from expinterp_plugin.exposure.estimate import estimate_crf  # noqa: E402
from expinterp_plugin.exposure.io import read_image, to_dtype, write_image  # noqa: E402
from expinterp_plugin.exposure.imf import imf_tables  # noqa: E402
from expinterp_plugin.exposure.motion import motion_mask, substitute  # noqa: E402
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side  # noqa: E402
from expinterp_plugin.exposure.y0 import Y0Mapper  # noqa: E402


def psnr(pred01, gt, mask=None):
    """PSNR (dB) of a [0, 1] prediction rounded to uint8 against uint8 ``gt`` over ``mask``."""
    error = to_dtype(pred01, np.uint8).astype(np.float64) - gt
    error = error[mask] if mask is not None else error
    return 10 * math.log10(255.0 ** 2 / float(np.mean(error ** 2)))


def similarity(width, height, rng):
    """Seeded similarity (3x3, output -> source pixels): shift <= 2 % of the width, rotation
    <= 1 degree about the centre."""
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), rng.uniform(-1, 1), 1)
    matrix[:, 2] += rng.uniform(-0.02, 0.02, 2) * width
    return np.vstack([matrix, [0, 0, 1]])


def move_block(img, rng):
    """``img`` with a quarter-size block moved right by 1/6 of the width."""
    h, w = img.shape[:2]
    bh, bw, shift = h // 4, w // 4, w // 6
    top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw - shift))
    moved = img.copy()
    moved[top:top + bh, left + shift:left + shift + bw] = img[top:top + bh, left:left + bw]
    return moved


def scored_area(valid):
    """bool valid area less a 1-pixel rim (bilinear edge samples)."""
    return cv2.erode(np.asarray(valid, np.uint8), np.ones((3, 3), np.uint8)) > 0


def shared_brackets(root):
    """[(folder, [(path, seconds), ...]), ...] of the real brackets under the data root
    ``root``; exits naming the folder when it is missing."""
    root = require(root, 'real-brackets')
    return [(folder, bracket_exposures(folder)) for folder in find_brackets(root)]


def synthetic_rows(root, max_side, trials):
    """Per triplet and trial: dB of y0 unmoved / moved / aligned, and for blocks deghosted."""
    rows = []
    for bracket, frames in shared_brackets(root):
        times = [t for _, t in frames]
        for i, j, k in select_triplets(times):
            full = [read_image(frames[n][0]) for n in (i, j, k)]
            dark, mid, bright = (resize_max_side(img, max_side) for img in full)
            mapper = Y0Mapper(estimate_crf([dark, bright], [times[i], times[k]]), times[i],
                              times[k], times[j])
            unmoved_y0 = mapper(dark, bright)
            rng = np.random.default_rng([i, j, k])
            height, width = full[2].shape[:2]
            for _ in range(trials):
                moved = resize_max_side(cv2.warpAffine(
                    full[2], similarity(width, height, rng)[:2], (width, height),
                    flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REFLECT), max_side)
                row = {'bracket': bracket.name, 'triplet': [i, j, k], 'case': 'warp',
                       'unmoved_db': psnr(unmoved_y0, mid)}
                row['moved_db'] = psnr(mapper(dark, moved), mid)
                try:
                    alignment, warped, valid = align_pair(dark, moved)
                except ValueError as err:
                    rows.append({**row, 'error': str(err)})
                    continue
                area = scored_area(valid)
                row.update(model=alignment.model, unmoved_common_db=psnr(unmoved_y0, mid, area),
                           aligned_common_db=psnr(mapper(dark, warped), mid, area))
                rows.append(row)
            for _ in range(trials):
                moved = move_block(bright, rng)
                mask = motion_mask(dark, moved, mapper)
                rows.append({'bracket': bracket.name, 'triplet': [i, j, k], 'case': 'block',
                             'unmoved_db': psnr(unmoved_y0, mid),
                             'moved_db': psnr(mapper(dark, moved), mid),
                             'deghosted_db': psnr(mapper(dark, deghosted(dark, moved, mapper,
                                                                         mask.mask)), mid),
                             'mask': mask.to_record()})
    return rows


def deghosted(dark, bright, mapper, mask):
    """The bright frame with its moving regions (``mask`` float32 [0, 1]) replaced by the dark
    frame mapped to its exposure, as ``Pair.remove_ghosts`` does."""
    table = imf_tables(mapper.crf, [mapper.t_bright / mapper.t_dark])[0]
    return substitute(bright.copy(), dark, table, np.rint(mask * 255).astype(np.uint8))


def summarise(rows):
    """Mean dB and losses per case."""
    def mean(key, case):
        values = [r[key] for r in rows if r['case'] == case and key in r]
        return round(float(np.mean(values)), 3) if values else None
    warps = [r for r in rows if r['case'] == 'warp' and 'aligned_common_db' in r]
    blocks = [r for r in rows if r['case'] == 'block']
    return {
        'warp': {'n': len([r for r in rows if r['case'] == 'warp']),
                 'refused': sum('error' in r for r in rows if r['case'] == 'warp'),
                 'unmoved_db': mean('unmoved_db', 'warp'), 'moved_db': mean('moved_db', 'warp'),
                 'aligned_loss_db_mean': round(float(np.mean(
                     [r['unmoved_common_db'] - r['aligned_common_db'] for r in warps])), 3),
                 'aligned_loss_db_max': round(float(np.max(
                     [r['unmoved_common_db'] - r['aligned_common_db'] for r in warps])), 3),
                 'models': {m: sum(r['model'] == m for r in warps)
                            for m in ('translation', 'euclidean', 'homography', 'none')}},
        'block': {'n': len(blocks), 'unmoved_db': mean('unmoved_db', 'block'),
                  'moved_db': mean('moved_db', 'block'),
                  'deghosted_db': mean('deghosted_db', 'block'),
                  'deghosted_loss_db_max': round(float(np.max(
                      [r['unmoved_db'] - r['deghosted_db'] for r in blocks])), 3)}}


def handheld_triplet(times):
    """(dark, mid, bright) indices: the pair with time ratio closest to 16 (4 EV), the frame
    nearest their geometric mean in between (None when there is none)."""
    pairs = [(abs(math.log2(times[k] / times[i]) - 4), i, k)
             for i in range(len(times)) for k in range(i + 2, len(times))]
    _, i, k = min(pairs)
    centre = (math.log2(times[i]) + math.log2(times[k])) / 2
    j = min(range(i + 1, k), key=lambda n: abs(math.log2(times[n]) - centre))
    return i, j, k


def overlay(base01, mask):
    """uint8 RGB figure: ``base01`` darkened, ``mask`` in red."""
    img = np.asarray(base01, np.float64) * 0.6
    img[..., 0] += 0.4 * mask
    return to_dtype(np.clip(img, 0, 1), np.uint8)


def handheld_rows(root, max_side, figures):
    """Per real sequence: estimated motion (full resolution, timed) and y0 scores."""
    rows = []
    for folder in sorted(p for p in require(root, 'handheld').iterdir() if p.is_dir()):
        frames = bracket_exposures(folder)
        times = [t for _, t in frames]
        i, j, k = handheld_triplet(times)
        dark, mid, bright = (read_image(frames[n][0]) for n in (i, j, k))
        start = time.perf_counter()
        try:
            alignment, warped_full, _ = align_pair(dark, bright)
        except ValueError as err:
            rows.append({'sequence': folder.name, 'error': str(err)})
            continue
        align_s = time.perf_counter() - start
        small = lambda img: resize_max_side(img, max_side)  # noqa: E731
        dark_s, mid_s, bright_s = small(dark), small(mid), small(bright)
        warped, valid = align_pair(dark_s, bright_s)[1:]
        mid_alignment, mid_s, mid_valid = align_pair(dark_s, mid_s)
        mapper = Y0Mapper(estimate_crf([dark_s, warped], [times[i], times[k]]), times[i],
                          times[k], times[j])
        start = time.perf_counter()
        full_mapper = Y0Mapper(mapper.crf, times[i], times[k], times[j])
        motion_mask(dark, warped_full, full_mapper)
        mask_s = time.perf_counter() - start
        mask = motion_mask(dark_s, warped, mapper, valid=valid)
        area = scored_area(np.logical_and(valid, mid_valid))
        y0_raw, y0_aligned = mapper(dark_s, bright_s), mapper(dark_s, warped)
        y0_deghosted = mapper(dark_s, deghosted(dark_s, warped, mapper, mask.mask))
        rows.append({'sequence': folder.name, 'frames': [frames[n][0].name for n in (i, j, k)],
                     'ratio_ev': round(math.log2(times[k] / times[i]), 2),
                     'size': list(dark.shape[1::-1]), 'alignment': alignment.to_record(),
                     'mid_alignment_px': round(mid_alignment.displacement_px, 2),
                     'align_seconds_full_res': round(align_s, 2),
                     'mask_seconds_full_res': round(mask_s, 2), 'mask': mask.to_record(),
                     'y0_db_unaligned': round(psnr(y0_raw, mid_s, area), 2),
                     'y0_db_aligned': round(psnr(y0_aligned, mid_s, area), 2),
                     'y0_db_aligned_deghosted': round(psnr(y0_deghosted, mid_s, area), 2)})
        write_image(figures / f'{folder.name}_y0.png', np.hstack(
            [to_dtype(y0_raw, np.uint8), to_dtype(y0_deghosted, np.uint8)]))
        write_image(figures / f'{folder.name}_mask.png', np.hstack(
            [overlay(y0_aligned, mask.mask), overlay(mid_s / 255.0, 1.0 - area)]))
    return rows


def timing_24mp(root, threads):
    """Seconds of alignment + mask on a 6000 x 4000 pair made from a real bracket, whose bright
    frame is shifted by 0.4 % of the width and rotated by 0.2 degree."""
    cv2.setNumThreads(threads)
    _, frames = shared_brackets(root)[0]
    times = [t for _, t in frames]
    i, j, k = select_triplets(times)[-1]
    dark, bright = (cv2.resize(read_image(frames[n][0]), (6000, 4000),
                               interpolation=cv2.INTER_CUBIC) for n in (i, k))
    rotation = cv2.getRotationMatrix2D((3000, 2000), 0.2, 1.0)
    rotation[:, 2] += (24, -10)
    bright = cv2.warpAffine(bright, rotation, (6000, 4000), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    mapper = Y0Mapper(estimate_crf([resize_max_side(dark, 1024), resize_max_side(bright, 1024)],
                                   [times[i], times[k]]), times[i], times[k], times[j])
    start = time.perf_counter()
    alignment = estimate_alignment(dark, bright)
    estimated = time.perf_counter()
    warped, valid = warp_to_reference(bright, alignment)
    warped_at = time.perf_counter()
    motion_mask(dark, warped, mapper, valid=valid)
    done = time.perf_counter()
    return {'size': [6000, 4000], 'threads': threads, 'model': alignment.model,
            'displacement_px': round(alignment.displacement_px, 2),
            'estimate_s': round(estimated - start, 3), 'warp_s': round(warped_at - estimated, 3),
            'mask_s': round(done - warped_at, 3), 'total_s': round(done - start, 3)}


def main():
    parser = arguments(__doc__.splitlines()[0], 512)
    parser.add_argument('--trials', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--figures', default='/tmp/handheld_figs')
    args = parser.parse_args()
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(args.threads)
    start = time.perf_counter()
    root = data_root(args.data_root)
    rows = synthetic_rows(root, args.max_side, args.trials)
    print(json.dumps({'max_side': args.max_side, 'synthetic': summarise(rows),
                      'synthetic_rows': rows,
                      'handheld': handheld_rows(root, 1024, figures),
                      'timing_24mp': timing_24mp(root, args.threads),
                      'seconds': round(time.perf_counter() - start, 1)}, indent=1))


if __name__ == '__main__':
    main()
