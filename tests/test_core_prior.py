"""The DoRF prior: its split and packaged model, the prior-based estimators, the times-unknown
fallbacks and the dorf:/emor: CRF sources."""
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from expinterp_plugin.exposure import crf_prior, synth
from expinterp_plugin.exposure.crf import resolve_crf
from expinterp_plugin.exposure.estimate import (CALIBRATION_CANDIDATES, FALLBACK_ORDER,
                                                calibrate_bracket, estimate_crf,
                                                estimate_pair_exposure, leave_one_out_psnr)
from expinterp_plugin.exposure.imf import imf_table
from expinterp_plugin.exposure.y0 import Y0Mapper
from test_core_cli import run_cli

CODES = np.arange(256)
# A camera of the packaged model about one standard deviation from the mean in its first three
# coefficients: always available, unlike the DoRF file.
PRIOR_CAMERA = 'emor:2,-1,0.3'


def render(crf, radiance, t, rng, noise=0.002):
    """uint8 RGB frame of ``crf``'s camera: radiance * t plus Gaussian noise, clipped, coded."""
    inverse = np.exp(crf.g[:, 0] - crf.g[-1, 0])
    v = np.clip(radiance * t + noise * rng.standard_normal(radiance.shape), 0, 1)
    return np.clip(np.rint(np.interp(v, inverse, CODES)), 0, 255).astype(np.uint8)


def render_triplet(crf, seed, spacing_ev=4.0):
    """(dark, mid, bright), (t_dark, t_mid, t_bright): ``spacing_ev`` apart, the median scene
    point at code 118 in the middle frame."""
    radiance = synth.render_scene(seed, (160, 120)).astype(np.float64)
    rng = np.random.default_rng(seed)
    t_mid = np.exp(crf.g[118, 0] - crf.g[-1, 0]) / np.median(radiance)
    half = 2.0**(spacing_ev / 2)
    times = (t_mid / half, t_mid, t_mid * half)
    return [render(crf, radiance, t, rng) for t in times], times


def psnr(pred01, target):
    error = np.rint(pred01.astype(np.float64) * 255) - target
    return 10 * np.log10(255.0**2 / np.mean(error**2))


@pytest.fixture
def dorf(shared_data):
    """The DoRF table of the shared data (the test skips without it)."""
    return shared_data('crf', 'dorf_201_crf.mat')


def dorf_camera(dorf, index):
    return crf_prior.curve_crf(*crf_prior.load_dorf(dorf), index)


# --- the split and the packaged model -----------------------------------------------------------

def test_dorf_split_holds_out_every_third_curve_and_covers_all():
    train, held_out = crf_prior.dorf_split()
    assert held_out == crf_prior.HELD_OUT_DORF == tuple(range(2, 201, 3))
    assert len(held_out) == 67 and len(train) == 134
    assert set(train).isdisjoint(held_out) and set(train) | set(held_out) == set(range(201))


def test_packaged_prior_is_small_and_orthonormal():
    assert crf_prior.PRIOR_FILE.stat().st_size < 100_000
    with np.load(crf_prior.PRIOR_FILE) as content:
        assert {content[k].dtype for k in ('mean', 'basis', 'covariance')} == {np.dtype(np.float32)}
        assert tuple(content['indices']) == crf_prior.TRAIN_DORF
    prior = crf_prior.load_prior()
    assert prior.basis.shape == (crf_prior.COMPONENTS, crf_prior.SAMPLES)
    np.testing.assert_allclose(prior.basis @ prior.basis.T, np.eye(prior.components), atol=1e-5)
    # Every training curve runs from 0 to 1, so the mean does and the components vanish there.
    assert prior.mean[0] == pytest.approx(0, abs=1e-6) and prior.mean[-1] == pytest.approx(1)
    np.testing.assert_allclose(prior.basis[:, [0, -1]], 0, atol=1e-5)


def test_packaged_prior_is_the_pca_of_the_training_curves(dorf):
    assert hashlib.sha256(dorf.read_bytes()).hexdigest() == crf_prior.DORF_SHA256
    rebuilt = crf_prior.build_prior(*crf_prior.load_dorf(dorf), crf_prior.TRAIN_DORF)
    prior = crf_prior.load_prior()
    np.testing.assert_allclose(rebuilt['mean'], prior.mean, atol=1e-6)
    # Components are defined up to sign.
    signs = np.sign(np.sum(rebuilt['basis'] * prior.basis, axis=1))
    np.testing.assert_allclose(rebuilt['basis'] * signs[:, None], prior.basis, atol=1e-4)


# --- estimator properties -----------------------------------------------------------------------

@pytest.fixture(scope='module', params=[0, 1, 2])
def prior_triplet(request):
    return render_triplet(resolve_crf(PRIOR_CAMERA), request.param)


def test_emor_estimate_is_increasing_and_identity_at_ratio_one(prior_triplet):
    (dark, _, bright), (t_dark, _, t_bright) = prior_triplet
    estimate = estimate_crf([dark, bright], [t_dark, t_bright])
    assert estimate.name == 'emor' and np.all(np.diff(estimate.g, axis=0) > 0)
    np.testing.assert_allclose(imf_table(estimate, 1.0), np.repeat(CODES[:, None], 3, 1),
                               atol=1e-9)
    # Deterministic: the same inputs give the same table bit for bit.
    np.testing.assert_array_equal(estimate_crf([dark, bright], [t_dark, t_bright]).g, estimate.g)


def test_emor_estimate_recovers_a_camera_of_the_model(prior_triplet):
    (dark, mid, bright), (t_dark, t_mid, t_bright) = prior_triplet
    true = resolve_crf(PRIOR_CAMERA)
    estimate = estimate_crf([dark, bright], [t_dark, t_bright])
    true_imf, est_imf = imf_table(true, 4.0), imf_table(estimate, 4.0)
    usable = (CODES >= 10) & (true_imf.max(axis=1) <= 235)
    # Measured on seeds 0-2: mean IMF error 0.6-4.2 codes, y0 41.6-44.9 dB.
    assert np.abs(est_imf - true_imf)[usable].mean() < 5
    assert psnr(Y0Mapper(estimate, t_dark, t_bright)(dark, bright), mid) > 40


def test_joint_fit_recovers_the_ratio_and_the_y0_of_a_camera_of_the_model(prior_triplet):
    (dark, mid, bright), _ = prior_triplet
    found = estimate_pair_exposure(dark, bright)
    assert found.method == 'joint-prior' and 0 < found.confidence <= 1
    # Measured on seeds 0-2: 4.17-4.58 EV (true 4); y0 40.6-45.0 dB.
    assert abs(np.log2(found.ratio) - 4.0) < 1.0
    assert psnr(Y0Mapper(found.crf, 1.0, found.ratio)(dark, bright), mid) > 39


@pytest.mark.parametrize('index', [101, 152])
def test_held_out_dorf_camera_is_recovered_with_and_without_times(index, dorf):
    assert index in crf_prior.HELD_OUT_DORF
    true = dorf_camera(dorf, index)
    (dark, mid, bright), (t_dark, _, t_bright) = render_triplet(true, seed=0)
    estimate = estimate_crf([dark, bright], [t_dark, t_bright])
    # Measured (seed 0): y0 35.5 dB (curve 101), 38.8 dB (152); ratio 4.26 and 4.34 EV.
    assert psnr(Y0Mapper(estimate, t_dark, t_bright)(dark, bright), mid) > 34
    found = estimate_pair_exposure(dark, bright)
    assert abs(np.log2(found.ratio) - 4.0) < 0.6


@pytest.mark.parametrize('spacing_ev', [2.0, 6.0])
def test_the_spacing_prior_pulls_towards_its_mean_and_leaves_y0_alone(spacing_ev):
    (dark, mid, bright), _ = render_triplet(resolve_crf(PRIOR_CAMERA), 0, spacing_ev)
    alone = estimate_pair_exposure(dark, bright, ratio_prior=None)
    flat = estimate_pair_exposure(dark, bright, ratio_prior=(4.0, 1e3))
    pulled = estimate_pair_exposure(dark, bright, ratio_prior=(4.0, 0.5))
    ev_alone, ev_pulled = np.log2(alone.ratio), np.log2(pulled.ratio)
    # Measured: response prior alone 2.61 / 6.63 EV (true 2 / 6); spacing prior 3.74 / 4.26.
    assert abs(np.log2(flat.ratio) - ev_alone) < 0.05
    assert min(ev_alone, 4.0) - 0.05 < ev_pulled < max(ev_alone, 4.0) + 0.05
    assert abs(ev_pulled - 4.0) < abs(ev_alone - 4.0)
    assert pulled.std_ev < pulled.data_std_ev == alone.data_std_ev
    # The response moves along the exponential ambiguity with the reported ratio, so the
    # interpolated frame does not depend on the spacing prior.
    y0 = [Y0Mapper(f.crf, 1.0, f.ratio)(dark, bright) for f in (alone, pulled)]
    np.testing.assert_allclose(y0[1], y0[0], atol=1e-5)
    assert psnr(y0[0], mid) > 33


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, (6, 5, 3)), arrays(np.uint8, (6, 5, 3)))
def test_estimated_ratio_is_always_above_one_and_in_range(a, b):
    found = estimate_pair_exposure(a, b)
    assert 1.0 < 2**0.25 - 1e-9 <= found.ratio <= 2**12 + 1e-6
    assert found.method in FALLBACK_ORDER and 0 <= found.confidence <= 1
    assert np.all(np.diff(found.crf.g, axis=0) > 0)


# --- fallback order -----------------------------------------------------------------------------

def constant_pair(dark_code, bright_code, size=(12, 10)):
    rng = np.random.default_rng(0)
    shape = size + (3,)
    dark = np.clip(dark_code + rng.integers(0, 2, shape), 0, 255).astype(np.uint8)
    bright = np.clip(bright_code + rng.integers(0, 40, shape), 0, 255).astype(np.uint8)
    return dark, bright


def test_fallback_order_is_documented():
    assert FALLBACK_ORDER == ('joint-prior', 'joint-prior-wide', 'mean-brightness',
                              'default-4ev')


def test_a_very_dark_frame_falls_back_to_the_wide_code_range():
    # Dark codes 2-3 lie below the usual floor (0.02 of full scale) but above 0.005.
    dark, bright = constant_pair(2, 60)
    found = estimate_pair_exposure(dark, bright)
    assert found.method == 'joint-prior-wide' and found.ratio > 1


def test_no_usable_correspondence_falls_back_to_mean_brightness():
    dark, bright = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    found = estimate_pair_exposure(dark, bright)
    assert found.method == 'mean-brightness' and found.confidence == 0
    assert found.ratio > 1 and np.isinf(found.std_ev)


def test_identical_flat_frames_fall_back_to_four_ev():
    flat = np.zeros((8, 8, 3), np.uint8)
    found = estimate_pair_exposure(flat, flat)
    assert (found.method, found.ratio, found.confidence) == ('default-4ev', 16.0, 0.0)


def test_a_known_crf_gives_the_ratio_under_it(prior_triplet):
    (dark, _, bright), _ = prior_triplet
    true = resolve_crf(PRIOR_CAMERA)
    found = estimate_pair_exposure(dark, bright, crf=true)
    assert found.method == 'known-crf' and found.crf is true
    # Measured on seeds 0-2: within 0.03 EV.
    assert abs(np.log2(found.ratio) - 4.0) < 0.1


# --- bracket calibration ------------------------------------------------------------------------

def test_calibration_keeps_the_estimator_with_the_best_leave_one_out_prediction():
    crf = resolve_crf(PRIOR_CAMERA)
    radiance = synth.render_scene(3, (64, 48)).astype(np.float64)
    rng = np.random.default_rng(3)
    times = [0.05 * 2.0**k for k in range(5)]
    frames = [render(crf, radiance, t, rng) for t in times]
    chosen, method, scores = calibrate_bracket(frames, times)
    assert set(scores) == {'emor', 'polynomial', 'debevec'}
    assert method == max(scores, key=scores.get)
    assert scores['emor'] == pytest.approx(leave_one_out_psnr(frames, times, 'emor'))
    expected = estimate_crf(frames, times, method, **CALIBRATION_CANDIDATES[method])
    np.testing.assert_array_equal(chosen.g, expected.g)
    with pytest.raises(ValueError, match='three or more'):
        leave_one_out_psnr(frames[:2], times[:2], 'emor')


@pytest.mark.parametrize('methods, fits', [(None, 3 * 3 + 1), (['polynomial'], 1)])
def test_calibration_progress_starts_before_the_first_fit_and_steps_with_each(
        monkeypatch, methods, fits):
    """`expinterp calibrate` shows its bar at once: the wrapper is entered before any CRF fit
    and each of its steps is followed by exactly one fit (minutes of work, a step at a time)."""
    from expinterp_plugin.exposure import estimate
    crf = resolve_crf(PRIOR_CAMERA)
    radiance = synth.render_scene(3, (64, 48)).astype(np.float64)
    rng = np.random.default_rng(3)
    times = [0.05 * 2.0**k for k in range(5)]
    frames = [render(crf, radiance, t, rng) for t in times]
    events, fit = [], estimate.estimate_crf

    def recording_fit(*args, **kwargs):
        events.append('fit')
        return fit(*args, **kwargs)

    def progress(steps, total):
        events.append(('start', total))
        for step in steps:
            events.append('step')
            yield step

    monkeypatch.setattr(estimate, 'estimate_crf', recording_fit)
    _, method, scores = calibrate_bracket(frames, times, methods, progress=progress)
    assert events[0] == ('start', fits)
    assert events[1:] == ['step', 'fit'] * fits
    assert len(scores) == (0 if methods else 3) and (methods is None or method == methods[0])


# --- CRF sources --------------------------------------------------------------------------------

def test_emor_source_is_the_model_curve():
    mean = resolve_crf('emor:0')
    prior = crf_prior.load_prior()
    x = CODES / 255
    np.testing.assert_allclose(np.exp(mean.g[1:, 0] - mean.g[-1, 0]),
                               np.interp(x, prior.grid, prior.mean)[1:], rtol=5e-4)
    assert resolve_crf('emor:1.5,-0.5').name == 'emor:1.5,-0.5'
    assert resolve_crf('emor:1', levels=65536).levels == 65536


@pytest.mark.parametrize('spec, problem', [
    ('emor:a', 'need emor:C1,C2'), ('emor:', 'need emor:C1,C2'), ('emor:nan', 'finite'),
    ('emor:' + ','.join(['0'] * 9), 'at most 8'), ('emor:100', 'not an increasing'),
    ('dorf:x', 'integer INDEX'), ('dorf:201', '0..200'),
])
def test_malformed_prior_sources_are_refused(spec, problem, monkeypatch, tmp_path):
    # The spec is refused before the file is read: it need not exist.
    monkeypatch.setenv(crf_prior.DORF_ENV, str(tmp_path / 'dorf_201_crf.mat'))
    with pytest.raises(ValueError, match=problem):
        resolve_crf(spec)


def test_dorf_source_needs_the_dorf_file(monkeypatch, tmp_path):
    monkeypatch.delenv(crf_prior.DORF_ENV, raising=False)
    with pytest.raises(ValueError, match='EXPINTERP_DORF'):
        resolve_crf('dorf:3')
    monkeypatch.setenv(crf_prior.DORF_ENV, str(tmp_path / 'missing.mat'))
    with pytest.raises(FileNotFoundError, match='missing.mat: DoRF file not found'):
        resolve_crf('dorf:3')


def test_dorf_source_is_the_inverse_of_the_database_curve(monkeypatch, dorf):
    monkeypatch.setenv(crf_prior.DORF_ENV, str(dorf))
    crf = resolve_crf('dorf:7')
    irradiance, brightness = crf_prior.load_dorf(dorf)
    codes = np.interp(np.exp(crf.g[1:, 0] - crf.g[-1, 0]), irradiance[7], brightness[7]) * 255
    np.testing.assert_allclose(codes, CODES[1:], atol=0.05)


def test_cli_dorf_flag_names_a_missing_file(tmp_path):
    from expinterp_plugin.exposure.io import write_image
    dark, bright = constant_pair(40, 120)
    write_image(tmp_path / 'd.png', dark)
    write_image(tmp_path / 'b.png', bright)
    missing = tmp_path / 'nothere.mat'
    rc, out, err = run_cli(['y0', tmp_path / 'd.png', tmp_path / 'b.png', '-o', tmp_path / 'y.png',
                            '--times', 1, 16, '--crf', 'dorf:3', '--dorf', missing])
    assert rc == 2 and out == ''
    assert err == f'expinterp: error: {missing}: DoRF file not found (the 201-curve .mat of ' \
        f'Grossberg & Nayar; set EXPINTERP_DORF or pass its path)\n'
    assert not (tmp_path / 'y.png').exists()
