"""Brightness-order consistency (exposure/order.py): its validation and its properties.

The metric is only worth reporting if (a) a global monotone tone curve of the scene and the real
middle exposure of a bracket score (near) zero and (b) plain Mertens of extreme pairs, the case
it exists for, scores clearly above that floor.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.crf import CRF, preset_crf
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.io import read_image, to_dtype
from expinterp_plugin.exposure.order import (MATLAB_RGB2GRAY, block_lower_medians, block_side,
                                             log_radiance, order_consistency)
from expinterp_plugin.exposure.prepare import resize_max_side

# A tone curve leaves at most this share of block pairs reversed (estimation noise at the seam
# between the two inputs); plain Mertens of a 4-EV pair must exceed it tenfold.
FLOOR = 1e-3


def synthetic_bracket(seed, ev=4.0, size=(384, 256)):
    """(radiance float64 HxWx3, camera CRF, (low, mid, high) uint8 RGB, (t_low, t_mid, t_high))."""
    rng = np.random.default_rng(seed)
    radiance = synth.render_scene(seed, size).astype(np.float64)
    params = synth.sample_camera(rng)
    t_mid = synth.choose_mid_exposure(radiance, params)
    times = synth.bracket_times(t_mid, ev)
    frames = synth.render_bracket(radiance, times, params, rng)
    return radiance, CRF(synth.crf_table(params, 8), 'camera'), frames, times


@pytest.fixture(scope='module')
def scenes():
    out = []
    for seed in (0, 1, 2):
        radiance, crf, (low, mid, high), (t_low, _, t_high) = synthetic_bracket(seed)
        out.append((radiance, (low, mid, high), log_radiance(low, high, crf, t_low, t_high)))
    return out


def grey_image(values01):
    """float [0, 1] (H, W) -> uint8 RGB with R = G = B."""
    return np.repeat(to_dtype(values01, np.uint8)[..., None], 3, axis=2)


class TestValidation:
    @settings(max_examples=12, deadline=None)
    @given(steps=st.lists(st.floats(0.0, 1.0), min_size=8, max_size=32),
           scene=st.integers(0, 2))
    def test_any_monotone_tone_curve_of_the_luminance_scores_zero(self, scenes, steps, scene):
        radiance, _, log_e = scenes[scene]
        luminance = np.log2(radiance @ np.asarray(MATLAB_RGB2GRAY) + 1e-9)
        curve = np.concatenate([[0.0], np.cumsum(np.asarray(steps) ** 3 + 1e-6)])
        knots = np.linspace(luminance.min(), luminance.max(), len(curve))
        tone = np.interp(luminance, knots, curve / curve[-1])
        assert order_consistency(log_e, grey_image(tone)).fraction <= FLOOR

    @pytest.mark.parametrize('curve', [lambda e: (e / e.max()) ** (1 / 2.2),
                                       lambda e: e / (1 + e),
                                       lambda e: np.log1p(e) / np.log1p(e.max())])
    def test_global_colour_tone_curves_score_near_zero(self, scenes, curve):
        for radiance, _, log_e in scenes:
            fused = to_dtype(curve(radiance), np.uint8)
            assert order_consistency(log_e, fused).fraction <= FLOOR

    def test_the_real_middle_exposure_scores_near_zero(self, scenes):
        for _, (_, mid, _), log_e in scenes:
            assert order_consistency(log_e, mid).fraction <= FLOOR

    def test_plain_mertens_of_the_pair_reverses_clearly_more(self, scenes):
        scores = [order_consistency(log_e, mertens_fuse([high, low])).fraction
                  for _, (low, _, high), log_e in scenes]
        assert max(scores) > 10 * FLOOR and np.mean(scores) > 10 * FLOOR
        # the middle frame in the fusion removes most of it
        with_mid = [order_consistency(log_e, mertens_fuse([high, mid, low])).fraction
                    for _, (low, mid, high), log_e in scenes]
        assert np.mean(with_mid) < np.mean(scores) / 3

    @pytest.mark.parametrize('folder', ['banterle_room', 'ntu_a6400_scene3'])
    def test_real_bracket_middle_frame_scores_near_zero(self, folder, shared_data):
        from expinterp_plugin.exposure.brackets import bracket_exposures, select_triplets
        exposures = bracket_exposures(shared_data('real-brackets', folder))
        i, j, k = select_triplets([t for _, t in exposures])[0]
        low, mid, high = (resize_max_side(read_image(exposures[n][0]), 512) for n in (i, j, k))
        t_low, t_high = exposures[i][1], exposures[k][1]
        crf = estimate_crf([low, high], [t_low, t_high])
        log_e = log_radiance(low, high, crf, t_low, t_high)
        assert order_consistency(log_e, mid).fraction <= FLOOR


class TestProperties:
    def test_lower_median_commutes_with_monotone_maps(self):
        rng = np.random.default_rng(3)
        values = rng.normal(size=(40, 60))
        medians = block_lower_medians(values, 10)
        assert medians.shape == (4, 6)
        np.testing.assert_array_equal(block_lower_medians(np.exp(3 * values), 10),
                                      np.exp(3 * medians))
        # lower median of 100 values: the 50th smallest
        assert medians[0, 0] == np.sort(values[:10, :10].ravel())[49]

    def test_missing_values_are_left_out_and_too_many_skip_the_block(self):
        values = np.arange(16, dtype=np.float64).reshape(4, 4)
        values[0, 0] = np.nan
        assert block_lower_medians(values, 4, max_missing=0.1)[0, 0] == 8.0
        assert np.isnan(block_lower_medians(values, 4, max_missing=0.05)[0, 0])

    def test_censoring_and_mismatch(self):
        crf = preset_crf('srgb')
        dark = np.full((2, 3, 3), 100, np.uint8)
        bright = np.full((2, 3, 3), 180, np.uint8)
        bright[0, 0] = 255                      # bright saturated: from the dark frame
        dark[0, 1], bright[0, 1] = 255, 255     # saturated in both
        bright[0, 2] = dark[0, 2] = 2           # black in both
        dark[1, 0] = 200                        # darker frame brighter: motion
        log_e = log_radiance(dark, bright, crf, 1.0, 16.0)
        assert log_e[0, 1] == np.inf and log_e[0, 2] == -np.inf and np.isnan(log_e[1, 0])
        assert np.isfinite(log_e[1, 1]) and log_e[0, 0] > log_e[1, 1]
        # a dark-sourced pixel never falls below the bright frame's saturation radiance,
        # whatever the ratio: here the ratio is far too small
        low_ratio = log_radiance(dark, bright, crf, 1.0, 1.5)
        assert low_ratio[0, 0] > low_ratio[1, 1]

    def test_reversal_counts_and_weights(self):
        # four flat regions 1, 2, 3 and 4 EV above the first; the fused image swaps the two
        # brightest: 1 pair of the 6 is reversed, and it spans 1 EV of the 10 compared
        crf = preset_crf('linear')
        bright = np.zeros((8, 32, 3), np.uint8)
        for i, code in enumerate((12, 24, 48, 96)):
            bright[:, 8 * i:8 * (i + 1)] = code
        dark = (bright // 16).astype(np.uint8)
        log_e = log_radiance(dark, bright, crf, 1.0, 16.0)
        fused = grey_image(np.repeat(np.array([0.1, 0.3, 0.9, 0.6]), 8)[None, :].repeat(8, 0))
        result = order_consistency(log_e, fused, block=8)
        assert (result.pairs, result.reversed, result.reliable) == (6, 1, 4)
        assert result.fraction == pytest.approx(1 / 6) and result.weighted == pytest.approx(0.1)
        np.testing.assert_allclose(result.block_map[0], [0, 0, 1 / 3, 1 / 3])
        assert order_consistency(log_e, fused, block=8, tolerance=100).reversed == 0
        assert order_consistency(log_e, fused, block=8, min_ev=2.5).pairs == 1

    def test_block_side_and_errors(self):
        assert block_side((512, 768)) == 16 and block_side((60, 80)) == 4
        log_e = np.zeros((16, 16))
        with pytest.raises(ValueError, match='fused image is 8x8'):
            order_consistency(log_e, np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(ValueError, match='min_ev > 0'):
            order_consistency(log_e, np.zeros((16, 16, 3), np.uint8), min_ev=0)
        with pytest.raises(ValueError, match='smaller than one 32-pixel block'):
            order_consistency(log_e, np.zeros((16, 16, 3), np.uint8), block=32)
        with pytest.raises(ValueError, match='0 < t_dark < t_bright'):
            log_radiance(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8),
                         preset_crf('srgb'), 2.0, 1.0)
