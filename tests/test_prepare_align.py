"""`prepare --align`: triplets of handheld brackets registered onto their middle frame (issue 18).

The brackets are rendered here (exposure/synth): a procedural scene, each frame's radiance moved
by a known similarity before exposure, so the true motion of every frame is known. The real-data
test (``shared_data``, tests/conftest.py: $EXPINTERP_DATA or ../shared/data, else skipped) moves
the frames of a tripod bracket by known shifts.
"""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from expinterp_plugin.commands import prepare as prepare_cmd
from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.align import ALIGN_OPTIONS, align_pair, apply_matrix, common_area
from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.io import read_image, write_image
from expinterp_plugin.exposure.prepare import (ALIGNMENT_NAME, crop_positions, prepare_triplets,
                                               resize_max_side)

TIMES = (1 / 64, 1 / 16, 1 / 4)
SIZE = (256, 192)
MARGIN = 16
SRGB_CAMERA = synth.CameraParams(gamma=(2.4, 2.4, 2.4), offset=0.055, s_mix=0.0, s_slope=5.0,
                                 s_pivot=0.5)


def similarity(dx, dy, degrees=0.0, size=SIZE):
    """3x3: frame pixel -> the scene point it shows (rotation about the centre, then a shift)."""
    centre = ((size[0] - 1) / 2, (size[1] - 1) / 2)
    matrix = np.vstack([cv2.getRotationMatrix2D(centre, degrees, 1.0), [0, 0, 1]])
    matrix[:2, 2] += (dx, dy)
    return matrix


def render_handheld(folder, samples, seed=0, noise=True):
    """``folder/f{0,1,2}.png`` (dark, mid, bright, 4 EV) and exposures.txt; frame n shows the
    scene at ``samples[n]`` (3x3, ``similarity``) x pixel. Returns the frames."""
    w, h = SIZE
    radiance = synth.render_scene(seed, (w + 2 * MARGIN, h + 2 * MARGIN))
    scale = synth.choose_mid_exposure(radiance, SRGB_CAMERA) / TIMES[1]
    rng = np.random.default_rng(seed)
    noise_levels = (synth.DEFAULT_SHOT_NOISE, synth.DEFAULT_READ_NOISE) if noise else (0, 0)
    to_canvas = np.float64([[1, 0, MARGIN], [0, 1, MARGIN], [0, 0, 1]])
    frames = []
    for n, (sample, t) in enumerate(zip(samples, TIMES)):
        moved = cv2.warpAffine(radiance, (to_canvas @ sample)[:2], (w, h),
                               flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        frame, = synth.render_bracket(np.maximum(moved, 0), [t * scale], SRGB_CAMERA, rng,
                                      *noise_levels)
        write_image(folder / f'f{n}.png', frame)
        frames.append(frame)
    (folder / 'exposures.txt').write_text(
        ''.join(f'f{n}.png {t!r}\n' for n, t in enumerate(TIMES)))
    return frames


def corner_error(record, sample, size=SIZE):
    """Largest corner distance (px) between a record's reference -> moving matrix and the true
    one, inv(sample)."""
    corners = np.float64([[0, 0], [size[0] - 1, 0], [0, size[1] - 1], [size[0] - 1, size[1] - 1]])
    estimated = apply_matrix(np.array(record['matrix']), corners)
    true = apply_matrix(np.linalg.inv(sample), corners)
    return float(np.max(np.hypot(*(estimated - true).T)))


def test_shifted_bracket_is_registered_and_cropped_to_the_common_area(tmp_path):
    rng = np.random.default_rng(4)
    shifts = rng.uniform(-5, 5, (3, 2))
    samples = [similarity(*shifts[0]), np.eye(3), similarity(*shifts[2])]
    frames = render_handheld(tmp_path / 'src' / 'hand', samples)
    summary = prepare_triplets(tmp_path / 'src', tmp_path / 'out', align='auto', crop=64,
                               step=48, crf='srgb')
    name = 'hand_00_01_02'
    record = json.loads((tmp_path / 'out' / ALIGNMENT_NAME).read_text())
    assert record['align'] == 'auto' and record['reference'] == 'mid'
    assert record['triplets'] == summary['alignment'] and summary['skipped'] == []
    triplet = record['triplets'][name]
    for role, sample in (('dark', samples[0]), ('bright', samples[2])):
        assert triplet[role]['model'] == 'translation'
        assert corner_error(triplet[role], sample) < 0.2, triplet[role]
    # The crop is the area both moved frames cover: no frame lacks a pixel of it, and it loses
    # no more than the whole pixels the two shifts move out (plus one of bilinear reach).
    top, left, height, width = triplet['crop']
    box = (slice(top, top + height), slice(left, left + width))
    warped = {}
    for role, img in (('low', frames[0]), ('high', frames[2])):
        _, warped[role], valid = align_pair(frames[1], img, 'auto')
        assert valid[box].all()
    lost_x = np.ceil(max(shifts[0, 0], shifts[2, 0], 0)) + np.ceil(-min(shifts[0, 0],
                                                                         shifts[2, 0], 0))
    lost_y = np.ceil(max(shifts[0, 1], shifts[2, 1], 0)) + np.ceil(-min(shifts[0, 1],
                                                                         shifts[2, 1], 0))
    assert SIZE[0] - width <= lost_x + 2 and SIZE[1] - height <= lost_y + 2, triplet
    # Every written crop is a window of the registered, cut frames.
    keys = [line.split()[0] for line in (tmp_path / 'out' / 'exposures.txt').read_text()
            .splitlines()[1:]]
    windows = len(crop_positions(height, 64, 48)) * len(crop_positions(width, 64, 48))
    assert len(keys) == summary['samples'] == windows
    cut = {'low': warped['low'][box], 'mid': frames[1][box], 'high': warped['high'][box]}
    y, x = height - 64, width - 64  # the last window of the last row sits at the far corner
    for frame in ('low', 'mid', 'high'):
        written = read_image(tmp_path / 'out' / frame / f'{keys[-1]}.png')
        np.testing.assert_array_equal(written, cut[frame][y:y + 64, x:x + 64])


def test_rotated_bracket_is_registered_without_border_pixels(tmp_path):
    samples = [similarity(2.5, -1.5, 0.8), np.eye(3), similarity(-3.0, 2.0, -0.6)]
    frames = render_handheld(tmp_path / 'src' / 'hand', samples, seed=1, noise=False)
    summary = prepare_triplets(tmp_path / 'src', tmp_path / 'out', align='euclidean',
                               crf='none')
    triplet = summary['alignment']['hand_00_01_02']
    for role, sample in (('dark', samples[0]), ('bright', samples[2])):
        assert triplet[role]['model'] == 'euclidean'
        assert corner_error(triplet[role], sample) < 0.3, triplet[role]
    top, left, height, width = triplet['crop']
    box = (slice(top, top + height), slice(left, left + width))
    # The rotations cut wedges from all four sides; what is left is data in every frame and
    # still most of the frame (a 0.8 degree rotation alone keeps ~94 %).
    assert top > 0 and left > 0 and top + height < SIZE[1] and left + width < SIZE[0]
    assert height * width > 0.8 * SIZE[0] * SIZE[1]
    for n, frame in ((0, 'low'), (2, 'high')):
        _, warped, valid = align_pair(frames[1], frames[n], 'euclidean')
        assert valid[box].all() and not valid.all()
        written = read_image(tmp_path / 'out' / frame / 'hand_00_01_02.png')
        np.testing.assert_array_equal(written, warped[box])
    np.testing.assert_array_equal(read_image(tmp_path / 'out' / 'mid' / 'hand_00_01_02.png'),
                                  frames[1][box])


def test_static_bracket_with_align_is_bit_identical_to_off(tmp_path):
    render_handheld(tmp_path / 'src' / 'still', [np.eye(3)] * 3, seed=2)
    off = prepare_triplets(tmp_path / 'src', tmp_path / 'off', crop=96)
    on = prepare_triplets(tmp_path / 'src', tmp_path / 'on', crop=96, align='auto')
    # Off: the summary and the folder are what they were before --align existed.
    assert set(off) == {'root', 'triplets', 'samples', 'scenes', 'lmdb'}
    assert not (tmp_path / 'off' / ALIGNMENT_NAME).exists()
    triplet = on['alignment']['still_00_01_02']
    assert triplet['dark']['model'] == triplet['bright']['model'] == 'none'
    assert triplet['crop'] == [0, 0, SIZE[1], SIZE[0]]
    files = sorted(p.relative_to(tmp_path / 'off') for p in (tmp_path / 'off').rglob('*')
                   if p.is_file() and p.name != '.expinterp-prepare.json')
    assert len(files) == 1 + 6 * 4  # exposures.txt, 6 crops x (low, mid, high, crf)
    for path in files:
        assert (tmp_path / 'off' / path).read_bytes() == (tmp_path / 'on' / path).read_bytes()


def run_cli(*args):
    return subprocess.run([sys.executable, '-m', 'expinterp_plugin.cli', 'prepare',
                           *map(str, args)], capture_output=True, text=True)


def test_unalignable_triplet_is_reported_and_skipped(tmp_path):
    src = tmp_path / 'src'
    render_handheld(src / 'good', [similarity(1.5, -2.0), np.eye(3), similarity(-2.5, 0.5)])
    # Another scene in the dark frame: the pair cannot be aligned.
    bad = render_handheld(src / 'bad', [np.eye(3)] * 3, seed=5)
    wrong = render_handheld(tmp_path / 'other', [np.eye(3)] * 3, seed=6)[0]
    write_image(src / 'bad' / 'f0.png', wrong)
    assert not np.array_equal(wrong, bad[0])
    result = run_cli(src, tmp_path / 'out', '--align', '--json', '--crf', 'none')
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f'expinterp: warning: skipped bad_00_01_02: {src / "bad" / "f0.png"}: '
                           'cannot be aligned onto f1.png: ')
    summary = json.loads(result.stdout)
    assert summary['scenes'] == ['good_00_01_02'] and summary['triplets'] == 1
    assert [s['name'] for s in summary['skipped']] == ['bad_00_01_02']
    assert sorted(p.name for p in (tmp_path / 'out' / 'mid').iterdir()) == ['good_00_01_02.png']
    # Nothing alignable at all: one error line, exit status 2, no output folder.
    (src / 'good').rename(tmp_path / 'good')
    result = run_cli(src, tmp_path / 'none', '--align', 'translation')
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f'expinterp: error: {src}: no triplet could be aligned (')
    assert not (tmp_path / 'none').exists()


def test_parser_and_arguments():
    import argparse
    parser = argparse.ArgumentParser()
    prepare_cmd.add_arguments(parser)
    assert next(a for a in parser._actions if a.dest == 'align').choices == ALIGN_OPTIONS
    assert parser.parse_args(['a', 'b']).align == 'off'
    assert parser.parse_args(['a', 'b', '--align']).align == 'auto'
    assert parser.parse_args(['a', 'b', '--align', 'homography']).align == 'homography'
    with pytest.raises(ValueError, match="align 'affine'"):
        prepare_triplets('a', 'b', align='affine')


@pytest.mark.parametrize('h, w, angle', [(120, 160, 2.0), (2000, 3000, 1.0)])
def test_common_area_cuts_the_missing_wedges(h, w, angle):
    """The valid area of a frame rotated about its centre: four thin wedges miss. Large masks
    are searched on a reduced copy and the rectangle still lies inside."""
    inside = np.zeros((h, w), np.uint8)
    corners = cv2.boxPoints((((w - 1) / 2, (h - 1) / 2), (w, h), angle))
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    top, left, height, width = common_area(inside.astype(bool))
    assert inside[top:top + height, left:left + width].all()
    # The largest inscribed rectangle of a 2-degree rotation keeps ~93 % of the frame.
    assert height * width > 0.88 * h * w
    assert common_area(np.ones((5, 7), bool)) == (0, 0, 5, 7)
    with pytest.raises(ValueError, match='share no area'):
        common_area(np.zeros((5, 7), bool))


@pytest.mark.parametrize('shifts', [((3.25, -2.5), (-4.5, 1.75))])
def test_real_bracket_moved_by_known_shifts(shared_data, tmp_path, shifts):
    # A tripod bracket (registered to ~0.1-0.2 px): dark and bright moved at full resolution,
    # then prepared at 512 px as a handheld bracket would be.
    frames = bracket_exposures(shared_data('real-brackets', 'canon_s45_exposures'))
    (dark, t_dark), (mid, t_mid), (bright, t_bright) = (frames[n] for n in (7, 9, 12))
    folder = tmp_path / 'src' / 'canon'
    folder.mkdir(parents=True)
    images = [read_image(p) for p in (dark, mid, bright)]
    height, width = images[0].shape[:2]
    factor = 512 / max(height, width)
    for n, (img, shift) in enumerate(zip(images, (shifts[0], (0, 0), shifts[1]))):
        # Shifts are given at 512 px; frame n shows the scene at x + shift.
        matrix = np.float64([[1, 0, shift[0] / factor], [0, 1, shift[1] / factor]])
        moved = cv2.warpAffine(img, matrix, (width, height),
                               flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        write_image(folder / f'f{n}.png', moved)
    (folder / 'exposures.txt').write_text(
        ''.join(f'f{n}.png {t!r}\n' for n, t in enumerate((t_dark, t_mid, t_bright))))
    summary = prepare_triplets(tmp_path / 'src', tmp_path / 'out', max_side=512, crf='none',
                               align='translation')
    (triplet,) = summary['alignment'].values()
    small = resize_max_side(images[0], 512).shape
    for role, shift in (('dark', shifts[0]), ('bright', shifts[1])):
        assert corner_error(triplet[role], similarity(*shift), (small[1], small[0])) < 0.25, \
            triplet[role]

