"""Numeric core: CRF tables (presets, files, estimation) and intensity mapping functions."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.crf import (CRF, PRESETS, load_crf, preset_crf, resolve_crf,
                                           save_crf, strictly_increasing)
from expinterp_plugin.exposure.estimate import estimate_crf, estimate_exposure_ratio
from expinterp_plugin.exposure.imf import (channel_counts, cumulative_histogram_pairs,
                                           histogram_imf_table, imf_table, imf_tables)
from expinterp_plugin.exposure.io import ImageError
from expinterp_plugin.exposure.y0 import Y0Mapper

CODES = np.arange(256, dtype=np.float64)
# Per-code steps of a random strictly increasing log response (a CRF table's first differences).
STEPS = arrays(np.float64, (255, 3), elements=st.floats(1e-3, 1.0))
RATIOS = st.floats(1 / 64, 64)

# Cameras for the estimation tests: pure power laws (a toe too short to matter) at gamma 2.2,
# and the sRGB transfer curve (exponent 2.4 with its linear toe; IEC 61966-2-1).
GAMMA22 = synth.CameraParams(gamma=(2.2, 2.2, 2.2), offset=1e-9, s_mix=0.0, s_slope=5.0,
                             s_pivot=0.5)
SRGB = synth.CameraParams(gamma=(2.4, 2.4, 2.4), offset=0.055, s_mix=0.0, s_slope=5.0,
                          s_pivot=0.5)


def crf_from_steps(steps):
    return CRF(np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)]), name='random')


def strictly_increasing_columns(g):
    return bool(np.all(np.diff(g, axis=0) > 0))


# --- CRF tables ---------------------------------------------------------------------------------

@pytest.mark.parametrize('levels', [256, 65536])
@pytest.mark.parametrize('name', PRESETS)
def test_presets_are_finite_strictly_increasing_and_zero_at_mid_code(name, levels):
    crf = preset_crf(name, levels)
    assert crf.g.shape == (levels, 3) and crf.levels == levels and crf.max_code == levels - 1
    assert np.all(np.isfinite(crf.g)) and strictly_increasing_columns(crf.g)
    assert np.all(crf.g[levels // 2] == 0)


def test_presets_follow_their_formulas():
    z = np.array([11.0, 64.0, 200.0, 255.0])
    v = z / 255
    g22 = preset_crf('gamma2.2').g
    np.testing.assert_allclose(g22[z.astype(int), 0], 2.2 * np.log(v / (128 / 255)))
    lin = preset_crf('linear').g
    np.testing.assert_allclose(lin[z.astype(int), 0], np.log(z / 128))
    srgb = preset_crf('srgb').g
    expected = np.log(((v + 0.055) / 1.055)**2.4) - np.log(((128 / 255 + 0.055) / 1.055)**2.4)
    np.testing.assert_allclose(srgb[z.astype(int), 0], expected)
    # The linear toe of sRGB: codes up to 10 (0.04045 * 255 = 10.3) are proportional to light.
    np.testing.assert_allclose(np.exp(srgb[10, 0] - srgb[5, 0]), 2.0)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match='gamma2.2'):
        preset_crf('rec709')


@pytest.mark.parametrize('table, problem', [
    (np.zeros((100, 3)), 'shape'),
    (np.zeros((256, 4)), 'shape'),
    (np.tile(np.linspace(-1, 1, 256)[:, None], 3) * [1, 1, -1], 'strictly increasing'),
    (np.where(np.arange(256)[:, None] == 7, np.nan, np.arange(256.0)[:, None]) + np.zeros(3),
     'non-finite'),
])
def test_crf_rejects_bad_tables(table, problem):
    with pytest.raises(ValueError, match=problem):
        CRF(table, name='probe')


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (32, 2), elements=st.floats(-50, 50)), st.floats(1e-9, 1e-3))
def test_strictly_increasing_lifts_any_table_by_a_running_maximum_and_ramp(table, step):
    fixed = strictly_increasing(table, step)
    assert np.all(np.diff(fixed, axis=0) >= 0.99 * step)
    assert np.all(fixed >= table)
    # A table that already rises by more than the step is left as it is (to rounding).
    rising = np.cumsum(np.abs(table) + 1, axis=0)
    np.testing.assert_allclose(strictly_increasing(rising, step), rising, rtol=0, atol=1e-12)


# --- CRF files ----------------------------------------------------------------------------------

@pytest.mark.parametrize('suffix', ['.npy', '.txt'])
@pytest.mark.parametrize('name', ['srgb', 'gamma2.2'])
def test_save_and_load_round_trip(tmp_path, name, suffix):
    crf = preset_crf(name)
    path = tmp_path / f'crf{suffix}'
    save_crf(crf, path)
    loaded = load_crf(path)
    np.testing.assert_allclose(loaded.g, crf.g, rtol=0, atol=1e-8)
    assert loaded.name == str(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_sixteen_bit_table_round_trips_through_npy(tmp_path):
    crf = preset_crf('srgb', 65536)
    save_crf(crf, tmp_path / 'crf16.npy')
    assert np.array_equal(load_crf(tmp_path / 'crf16.npy').g, crf.g)


def test_mat_file_variable_crf_is_read_and_renormalised(tmp_path):
    from scipy.io import savemat
    table = preset_crf('srgb').g + 3.0  # the follow-up code's tables are not centred on code 128
    savemat(tmp_path / 'camera.mat', {'crf': table, 'other': np.ones(3)})
    np.testing.assert_allclose(load_crf(tmp_path / 'camera.mat').g, preset_crf('srgb').g,
                               atol=1e-12)


@pytest.mark.parametrize('shape', [(256, 1), (1, 256), (256,)])
def test_single_channel_tables_apply_to_all_three_channels(tmp_path, shape):
    g = preset_crf('gamma2.2').g[:, 0]
    np.save(tmp_path / 'grey.npy', g.reshape(shape))
    loaded = load_crf(tmp_path / 'grey.npy')
    assert loaded.g.shape == (256, 3)
    for c in range(3):
        np.testing.assert_allclose(loaded.g[:, c], g)


def test_three_by_256_table_is_transposed(tmp_path):
    g = preset_crf('srgb').g
    np.savetxt(tmp_path / 'rows.txt', g.T)
    np.testing.assert_allclose(load_crf(tmp_path / 'rows.txt').g, g, atol=1e-12)


def test_loading_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.npy'):
        load_crf(tmp_path / 'nowhere.npy')


@pytest.mark.parametrize('content, problem', [
    (np.zeros((200, 3)), 'shape'),
    (np.tile(np.linspace(1, -1, 256)[:, None], 3), 'not strictly increasing'),
])
def test_loading_a_bad_table_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / 'bad.npy'
    np.save(path, content)
    with pytest.raises(ImageError, match=rf'bad\.npy.*{problem}'):
        load_crf(path)


def test_loading_unusable_files_names_the_file(tmp_path):
    from scipy.io import savemat
    savemat(tmp_path / 'nocrf.mat', {'response': preset_crf('srgb').g})
    with pytest.raises(ImageError, match=r'nocrf\.mat.*"crf"'):
        load_crf(tmp_path / 'nocrf.mat')
    (tmp_path / 'garbage.npy').write_bytes(b'not a numpy file')
    with pytest.raises(ImageError, match=r'garbage\.npy: cannot read'):
        load_crf(tmp_path / 'garbage.npy')
    (tmp_path / 'words.txt').write_text('a b c\n' * 256)
    with pytest.raises(ImageError, match=r'words\.txt: cannot read'):
        load_crf(tmp_path / 'words.txt')
    (tmp_path / 'table.csv').write_text('1,2,3\n')
    with pytest.raises(ImageError, match=r'table\.csv.*\.npy, \.txt or \.mat'):
        load_crf(tmp_path / 'table.csv')


def test_saving_to_an_unknown_type_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r'crf\.mat: CRF files are \.npy or \.txt'):
        save_crf(preset_crf('srgb'), tmp_path / 'crf.mat')
    assert list(tmp_path.iterdir()) == []


def test_resolve_crf_accepts_every_spec(tmp_path):
    srgb = preset_crf('srgb')
    assert resolve_crf(srgb) is srgb
    assert resolve_crf('srgb').name == 'srgb' and resolve_crf('linear', 65536).levels == 65536
    np.testing.assert_array_equal(resolve_crf(srgb.g).g, srgb.g)
    save_crf(srgb, tmp_path / 'c.npy')
    np.testing.assert_array_equal(resolve_crf(tmp_path / 'c.npy').g, srgb.g)
    np.testing.assert_array_equal(resolve_crf(str(tmp_path / 'c.npy')).g, srgb.g)
    with pytest.raises(TypeError, match='int'):
        resolve_crf(3)


# --- intensity mapping functions ----------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(STEPS)
def test_linear_imf_at_ratio_one_is_the_identity(steps):
    table = imf_table(crf_from_steps(steps), 1.0)
    np.testing.assert_allclose(table, np.repeat(CODES[:, None], 3, axis=1), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(STEPS, RATIOS)
def test_linear_imf_is_non_decreasing_within_the_code_range(steps, ratio):
    table = imf_table(crf_from_steps(steps), ratio)
    assert table.shape == (256, 3) and table.dtype == np.float64
    assert np.all(np.diff(table, axis=0) >= 0)
    assert table.min() >= 0 and table.max() <= 255


@settings(max_examples=40, deadline=None)
@given(STEPS, st.floats(1.01, 8), st.floats(1.01, 8))
def test_linear_imf_grows_with_the_ratio(steps, ratio, factor):
    crf = crf_from_steps(steps)
    down, up, higher = imf_tables(crf, [1 / ratio, ratio, ratio * factor])
    identity = CODES[:, None]
    assert np.all(down <= identity + 1e-9) and np.all(up >= identity - 1e-9)
    assert np.all(higher >= up - 1e-9)
    # Brightening moves every code that is not already at the top.
    assert np.all(up[:-1] > identity[:-1])


@pytest.mark.parametrize('ratio', [1 / 16, 0.25, 4.0, 16.0])
def test_linear_imf_of_a_power_law_scales_codes_by_the_ratio_to_one_over_gamma(ratio):
    table = imf_table(preset_crf('gamma2.2'), ratio)[1:, 0]
    expected = np.minimum(CODES[1:] * ratio**(1 / 2.2), 255)
    # Linear interpolation between table points in log irradiance: a fraction of a code.
    np.testing.assert_allclose(table, expected, atol=0.2)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from(['srgb', 'gamma2.2']), st.lists(RATIOS, min_size=1, max_size=3))
def test_sigmoid_imf_is_non_decreasing_and_in_range(name, ratios):
    for table in imf_tables(preset_crf(name), ratios, method='sigmoid'):
        assert table.shape == (256, 3)
        assert np.all(np.diff(table, axis=0) >= 0)
        assert table.min() >= 0 and table.max() <= 255


def test_sigmoid_imf_approximates_the_linear_one():
    linear = imf_table(preset_crf('srgb'), 4.0)
    sigmoid = imf_table(preset_crf('srgb'), 4.0, method='sigmoid')
    # Measured: mean 6.0, max 22.3 codes (the double sigmoid cannot follow the sRGB toe).
    assert np.abs(sigmoid - linear).mean() < 9
    assert np.abs(sigmoid - linear).max() < 30


@pytest.mark.parametrize('bad', [0.0, -2.0, float('nan')])
def test_imf_rejects_non_positive_ratios(bad):
    with pytest.raises(ValueError, match='positive'):
        imf_table(preset_crf('srgb'), bad)


def test_imf_rejects_unknown_methods():
    with pytest.raises(ValueError, match='linear, sigmoid'):
        imf_table(preset_crf('srgb'), 2.0, method='cubic')


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.3, 3.0))
def test_histogram_imf_recovers_a_monotone_code_mapping(seed, power):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lut = np.rint(255 * (CODES / 255)**power).astype(np.uint8)
    table = histogram_imf_table(src, lut[src])
    assert np.all(np.diff(table, axis=0) >= 0) and table.min() >= 0 and table.max() <= 255
    # Each occupied source code lands inside the bin of its image under the mapping.
    for c in range(3):
        present = np.unique(src[..., c])
        assert np.all(np.abs(table[present, c] - lut[present]) <= 0.5 + 1e-9)


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_channel_counts_equal_numpy_bincount(dtype):
    img = np.random.default_rng(2).integers(0, np.iinfo(dtype).max + 1, (61, 37, 3), dtype=dtype)
    levels = np.iinfo(dtype).max + 1
    expected = np.stack([np.bincount(img[..., c].ravel(), minlength=levels) for c in range(3)], 1)
    np.testing.assert_array_equal(channel_counts(img, levels), expected)
    # A non-contiguous view and a narrower code range (the bincount path) count the same.
    np.testing.assert_array_equal(channel_counts(img[:, ::2], levels)[:, 1],
                                  np.bincount(img[:, ::2, 1].ravel(), minlength=levels))
    if dtype == np.uint16:
        small = img % np.uint16(256)
        np.testing.assert_array_equal(channel_counts(small, 256)[:, 0],
                                      np.bincount(small[..., 0].ravel(), minlength=256))


def test_histogram_pairs_of_an_image_with_itself_are_equal_and_increasing():
    img = np.random.default_rng(1).integers(0, 65536, (32, 48, 3), dtype=np.uint16)
    z_src, z_ref = cumulative_histogram_pairs(img, img, levels=65536)
    assert z_src.shape == (1023, 3)
    np.testing.assert_array_equal(z_src, z_ref)
    assert np.all(np.diff(z_src, axis=0) >= 0)
    assert z_src.min() >= -0.5 and z_src.max() <= 65535.5


# --- CRF estimation -----------------------------------------------------------------------------

def render_pair(camera, seed=0, size=(160, 120), ev=4.0, bit_depth=8):
    """(dark, mid, bright, times, true CRF): a noisy synthetic bracket through ``camera``."""
    radiance = synth.render_scene(seed, size)
    times = synth.bracket_times(synth.choose_mid_exposure(radiance, camera), ev)
    frames = synth.render_bracket(radiance, times, camera, np.random.default_rng(seed),
                                  bit_depth=bit_depth)
    return (*frames, times, CRF(synth.crf_table(camera, bit_depth), name='true'))


def psnr(pred01, target):
    peak = np.iinfo(target.dtype).max
    return 10 * np.log10(1.0 / np.mean((pred01.astype(np.float64) - target / peak)**2))


@pytest.fixture(scope='module', params=[0, 1, 2])
def gamma_pair(request):
    return render_pair(GAMMA22, seed=request.param)


def well_exposed_dark_codes(true_imf):
    """Dark codes >= 10 whose true mid-exposure code is at most 235 in every channel."""
    return (CODES >= 10) & (true_imf.max(axis=1) <= 235)


def test_pair_estimate_recovers_the_dark_to_mid_imf_of_a_gamma_camera(gamma_pair):
    dark, mid, bright, (t_dark, t_mid, t_bright), true = gamma_pair
    estimate = estimate_crf([dark, bright], [t_dark, t_bright], method='polynomial')
    assert strictly_increasing_columns(estimate.g) and estimate.levels == 256
    true_imf, est_imf = imf_table(true, t_mid / t_dark), imf_table(estimate, t_mid / t_dark)
    usable = well_exposed_dark_codes(true_imf)
    assert usable.sum() > 100
    error = np.abs(est_imf - true_imf)[usable]
    # Measured on seeds 0-2: max 3.3-3.5, mean 1.1-1.2 codes.
    assert error.max() < 6 and error.mean() < 2


def test_pair_estimate_gives_a_y0_nearly_as_good_as_the_true_crf(gamma_pair):
    dark, mid, bright, (t_dark, t_mid, t_bright), true = gamma_pair
    estimate = estimate_crf([dark, bright], [t_dark, t_bright], method='polynomial')
    with_true = psnr(Y0Mapper(true, t_dark, t_bright)(dark, bright), mid)
    with_estimate = psnr(Y0Mapper(estimate, t_dark, t_bright)(dark, bright), mid)
    # Measured on seeds 0-2: 39.6-42.3 dB with the estimate, 0.4-0.8 dB below the true CRF.
    assert with_estimate > 37
    assert with_estimate > with_true - 1.5


def test_pair_estimate_of_an_srgb_camera():
    dark, mid, bright, (t_dark, t_mid, t_bright), true = render_pair(SRGB, seed=1)
    estimate = estimate_crf([dark, bright], [t_dark, t_bright], method='polynomial')
    true_imf, est_imf = imf_table(true, t_mid / t_dark), imf_table(estimate, t_mid / t_dark)
    error = np.abs(est_imf - true_imf)[well_exposed_dark_codes(true_imf)]
    # Measured on seeds 0-2: max 4.4-5.4, mean 1.8-2.4 codes; y0 42.6 dB on seed 1.
    assert error.max() < 8 and error.mean() < 3.5
    assert psnr(Y0Mapper(estimate, t_dark, t_bright)(dark, bright), mid) > 40


def test_sixteen_bit_pair_estimate_has_sixteen_bit_levels_and_a_close_imf():
    dark, mid, bright, (t_dark, t_mid, t_bright), true = render_pair(GAMMA22, size=(96, 64),
                                                                     bit_depth=16)
    estimate = estimate_crf([dark, bright], [t_dark, t_bright], method='polynomial')
    assert estimate.levels == 65536 and strictly_increasing_columns(estimate.g)
    codes = np.arange(10, 236) * 257
    true_imf, est_imf = imf_table(true, 4.0)[codes], imf_table(estimate, 4.0)[codes]
    usable = true_imf.max(axis=1) <= 235 * 257
    assert np.abs(est_imf - true_imf)[usable].max() < 6 * 257


def test_debevec_estimate_is_strictly_increasing(gamma_pair):
    dark, mid, bright, (t_dark, t_mid, t_bright), true = gamma_pair
    estimate = estimate_crf([dark, bright], [t_dark, t_bright], method='debevec')
    assert estimate.name == 'debevec' and estimate.g.shape == (256, 3)
    assert strictly_increasing_columns(estimate.g) and np.all(np.isfinite(estimate.g))


@pytest.mark.parametrize('method', ['emor', 'polynomial', 'debevec'])
def test_estimate_is_deterministic_and_independent_of_frame_order(gamma_pair, method):
    dark, mid, bright, (t_dark, t_mid, t_bright), _ = gamma_pair
    first = estimate_crf([dark, mid, bright], [t_dark, t_mid, t_bright], method=method)
    again = estimate_crf([dark, mid, bright], [t_dark, t_mid, t_bright], method=method)
    shuffled = estimate_crf([bright, dark, mid], [t_bright, t_dark, t_mid], method=method)
    np.testing.assert_array_equal(first.g, again.g)
    np.testing.assert_array_equal(first.g, shuffled.g)


def test_exposure_ratio_is_recovered_for_a_known_crf(gamma_pair):
    dark, _, bright, (t_dark, _, t_bright), true = gamma_pair
    ratio = estimate_exposure_ratio(dark, bright, true)
    # Measured on seeds 0-2: 15.96-16.00.
    assert ratio == pytest.approx(t_bright / t_dark, rel=0.03)


def test_exposure_ratio_needs_well_exposed_correspondences():
    black = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match='no well-exposed'):
        estimate_exposure_ratio(black, black + 255, preset_crf('srgb'))


@pytest.mark.parametrize('images, times, problem', [
    ([np.zeros((4, 4, 3), np.uint8)], [1.0], 'two or more'),
    ([np.zeros((4, 4, 3), np.uint8)] * 2, [1.0], '2 images and 1 times'),
    ([np.zeros((4, 4, 3), np.uint8)] * 2, [1.0, 0.0], 'positive'),
    ([np.zeros((4, 4, 3), np.uint8)] * 2, [1.0, 1.0], 'differ'),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], [1.0, 2.0], 'shape'),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint16)], [1.0, 2.0], 'dtype'),
    ([np.zeros((4, 4, 3), np.float32)] * 2, [1.0, 2.0], 'uint8/uint16'),
    ([np.zeros((4, 4), np.uint8)] * 2, [1.0, 2.0], r'\(H, W, 3\)'),
])
def test_estimate_rejects_bad_stacks(images, times, problem):
    with pytest.raises(ValueError, match=problem):
        estimate_crf(images, times)


def test_estimate_rejects_unknown_methods_and_sixteen_bit_debevec():
    frames = [np.full((4, 4, 3), v, np.uint16) for v in (100, 200)]
    with pytest.raises(ValueError, match='emor, polynomial, debevec'):
        estimate_crf(frames, [1.0, 2.0], method='robertson')
    with pytest.raises(ValueError, match='8-bit images only'):
        estimate_crf(frames, [1.0, 2.0], method='debevec')
