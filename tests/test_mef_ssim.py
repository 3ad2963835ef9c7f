"""MEF-SSIM (Ma, Zeng, Wang, TIP 2015) against the reference figures and a per-patch oracle."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from expinterp_plugin.exposure import fusion_quality as mef
from expinterp_plugin.exposure.fusion_quality import (MATLAB_RGB2GRAY, downsample2,
                                                      matlab_rgb2gray, mef_ssim, mef_ssim_map,
                                                      mef_ssim_scales)

# docs/design.md, "MEF-SSIM": values of the reference mef_ssim.m
TEST_VECTOR_SINGLE = 0.9678657045
TEST_VECTOR_MULTI = 0.9645011088


def design_test_vector():
    y, x = np.mgrid[0:64, 0:80]
    dark = np.mod(3 * x + 2 * y + np.mod(x * y, 17), 128)
    bright = np.minimum(255, 2 * dark + 40)
    fused = (dark + bright) // 2
    return [dark.astype(np.uint8), bright.astype(np.uint8)], fused.astype(np.uint8)


def oracle_map(sources, fused):
    """Per-patch MEF-SSIM map written directly from the paper's definitions (slow, float64)."""
    seq = np.stack(sources).astype(np.float64)
    f = fused.astype(np.float64)
    k, h, w = seq.shape
    axis = np.arange(11) - 5.0
    g = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum()).ravel()
    eps = np.finfo(float).eps
    c_ssim = (0.03 * 255) ** 2
    out = np.empty((h - 10, w - 10))
    for i in range(h - 10):
        for j in range(w - 10):
            patches = seq[:, i:i + 11, j:j + 11].reshape(k, -1)
            d = patches - patches.mean(axis=1, keepdims=True)
            norms = np.linalg.norm(d, axis=1)
            contrast = norms + 0.001
            consistency = (np.linalg.norm(d.sum(axis=0)) + eps) / (norms.sum() + eps)
            consistency = min(consistency, 1 - eps) if consistency > 1 else consistency
            p = min(math.tan(math.pi / 2 * consistency), 10.0)
            weights = (contrast / 11) ** p + eps
            weights /= weights.sum()
            r = (weights / contrast) @ d
            if np.linalg.norm(r) > 0:
                r = r / np.linalg.norm(r) * contrast.max()
            fp = f[i:i + 11, j:j + 11].ravel()
            mu_r, mu_f = g @ r, g @ fp
            var_r, var_f = g @ (r - mu_r) ** 2, g @ (fp - mu_f) ** 2
            cov = g @ ((r - mu_r) * (fp - mu_f))
            out[i, j] = (2 * cov + c_ssim) / (var_r + var_f + c_ssim)
    return out


def test_design_test_vector_single_and_multi_scale():
    sources, fused = design_test_vector()
    assert mef_ssim(sources, fused, multiscale=False) == pytest.approx(TEST_VECTOR_SINGLE,
                                                                       abs=1e-9)
    assert mef_ssim(sources, fused) == pytest.approx(TEST_VECTOR_MULTI, abs=1e-9)


def test_multiscale_is_the_beta_weighted_product_of_the_scales():
    sources, fused = design_test_vector()
    scores = mef_ssim_scales(sources, fused, levels=3)
    betas = np.array([0.0448, 0.2856, 0.3001]) / 0.6305
    assert scores[0] == pytest.approx(TEST_VECTOR_SINGLE, abs=1e-9)
    assert np.prod(np.array(scores) ** betas) == pytest.approx(mef_ssim(sources, fused), rel=1e-14)
    assert mef_ssim_map(sources, fused).shape == (54, 70)


def test_map_matches_the_per_patch_oracle_on_the_test_vector():
    sources, fused = design_test_vector()
    sources, fused = [s[:30, :40] for s in sources], fused[:30, :40]
    np.testing.assert_allclose(mef_ssim_map(sources, fused), oracle_map(sources, fused),
                               rtol=0, atol=1e-10)


_EXPOSURES = st.integers(1, 4).flatmap(
    lambda k: st.tuples(st.integers(11, 22), st.integers(11, 22)).flatmap(
        lambda hw: arrays(np.uint8, (k + 1,) + hw)))


@settings(max_examples=150, deadline=None)
@given(_EXPOSURES)
def test_map_matches_the_per_patch_oracle(stack):
    """Random, repeated and flat content, K = 1..4: the vectorised map equals the oracle."""
    sources, fused = list(stack[:-1]), stack[-1]
    got = mef_ssim_map(sources, fused)
    assert np.all(np.isfinite(got)) and np.all(got <= 1 + 1e-12)
    np.testing.assert_allclose(got, oracle_map(sources, fused), rtol=0, atol=1e-9)


def test_tiles_and_thread_pool_reproduce_the_single_tile_map(monkeypatch):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 200, (70, 90)).astype(np.int64)
    sources = [np.clip(base * g // 2, 0, 255).astype(np.uint8) for g in (1, 2, 4)]
    fused = np.clip(base + 20, 0, 255).astype(np.uint8)
    monkeypatch.setattr(mef, '_TILE', (1000, 1000))
    whole = mef_ssim_map(sources, fused)
    monkeypatch.setattr(mef, '_TILE', (16, 24))  # 60x80 map: uneven tiles, edges moved back
    for workers in (1, 3):
        monkeypatch.setattr(mef, '_MAX_WORKERS', workers)
        np.testing.assert_allclose(mef_ssim_map(sources, fused), whole, rtol=0, atol=1e-13)


def test_flat_sequence_and_flat_fusion_score_exactly_one():
    flat = [np.full((40, 50), v, np.uint8) for v in (0, 90, 255)]
    assert mef_ssim(flat, np.full((40, 50), 128, np.uint8), multiscale=False) == 1.0


def test_reversed_structure_scores_far_below_the_mean_fusion():
    sources, fused = design_test_vector()
    inverted = 255 - sources[0]
    assert mef_ssim(sources, inverted, multiscale=False) < 0.2 < 0.96 < mef_ssim(sources, fused)


def test_anti_correlated_scale_counts_as_zero_in_the_multiscale_product():
    sources, _ = design_test_vector()
    inverted = 255 - sources[0]
    assert min(mef_ssim_scales(sources, inverted)) < 0
    assert mef_ssim(sources, inverted) == 0.0


def test_score_does_not_depend_on_the_order_of_the_sources():
    sources, fused = design_test_vector()
    extra = np.clip(sources[0].astype(int) * 3, 0, 255).astype(np.uint8)
    a = mef_ssim([sources[0], extra, sources[1]], fused)
    b = mef_ssim([extra, sources[1], sources[0]], fused)
    assert a == pytest.approx(b, abs=1e-13)


def test_single_source_fused_with_itself_is_near_one():
    sources, _ = design_test_vector()
    assert mef_ssim([sources[0]], sources[0], multiscale=False) > 0.9999


def test_rgb_inputs_are_scored_through_matlab_rgb2gray():
    rng = np.random.default_rng(5)
    scene = rng.integers(0, 120, (48, 52, 3))
    rgb = [np.clip(scene * gain + rng.integers(0, 20, scene.shape), 0, 255).astype(np.uint8)
           for gain in (0.5, 2.0, 1.0)]
    grey = [matlab_rgb2gray(img) for img in rgb]
    score = mef_ssim(rgb[:2], rgb[2])
    assert 0.5 < score == mef_ssim(grey[:2], grey[2])


def test_matlab_rgb2gray_known_values():
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [7, 7, 7],
                        [0, 0, 0], [100, 150, 200]]], np.uint8)
    # 100*0.298936 + 150*0.587043 + 200*0.114021 = 140.7...
    assert matlab_rgb2gray(pixels).tolist() == [[76, 150, 29, 255, 7, 0, 141]]


def test_matlab_rgb2gray_equals_the_double_formula_for_every_colour():
    r, g, b = np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing='ij')
    rgb = np.stack([r, g, b], -1).reshape(4096, 4096, 3).astype(np.uint8)
    wr, wg, wb = MATLAB_RGB2GRAY
    expected = np.floor(wr * rgb[..., 0].astype(float) + wg * rgb[..., 1] + wb * rgb[..., 2]
                        + 0.5)
    np.testing.assert_array_equal(matlab_rgb2gray(rgb), expected)


def test_downsample2_averages_blocks_and_mirrors_odd_edges():
    img = np.arange(15, dtype=np.uint8).reshape(3, 5)
    expected = np.array([[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 4 + 9 + 9) / 4],
                         [(10 + 11) / 2, (12 + 13) / 2, 14.0]])
    np.testing.assert_array_equal(downsample2(img), expected)
    np.testing.assert_array_equal(downsample2(img.astype(np.float64)), expected)


@pytest.mark.parametrize('case, message', [
    ('empty', 'at least one source'),
    ('uint16', '8-bit'),
    ('shape', 'source 1 is 40x50 but the fused image is 44x50'),
    ('small', 'too small for 3 scale'),
    ('channels', 'grey HxW or RGB HxWx3'),
])
def test_bad_input_is_rejected_with_a_clear_message(case, message):
    ok = np.zeros((44, 50), np.uint8)
    sources, fused = {
        'empty': ([], ok),
        'uint16': ([ok.astype(np.uint16), ok], ok),
        'shape': ([ok, ok[:40]], ok),
        'small': ([ok[:43], ok[:43]], ok[:43]),
        'channels': ([np.zeros((44, 50, 4), np.uint8), ok], ok),
    }[case]
    with pytest.raises(ValueError, match=message):
        mef_ssim(sources, fused)
