"""Synthetic brackets: scenes, camera response, sensor model, data-set layout and the CLI."""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expinterp_plugin import cli
from expinterp_plugin.commands import synth as synth_command
from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.crf import strictly_increasing
from expinterp_plugin.exposure.io import read_image, read_table, to_dtype

SIZE = (48, 40)
SEEDS = range(8)


def _bracket(seed, size=SIZE, **kwargs):
    """(radiance, camera, times, [low, mid, high]) rendered the way the data-set writer does."""
    radiance = synth.render_scene(seed, size)
    rng = np.random.default_rng([seed, synth.CAMERA_STREAM])
    camera = synth.sample_camera(rng)
    times = synth.bracket_times(synth.choose_mid_exposure(radiance, camera), kwargs.pop('ev', 4.0))
    return radiance, camera, times, synth.render_bracket(radiance, times, camera, rng, **kwargs)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(Path(root).rglob('*')) if p.is_file()}


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def _median_exposure_ratio(dark, bright, g, z_range=(20, 235)):
    """Median over well-exposed samples of exp(g(bright) - g(dark)); frames uint8/16 HxWx3."""
    scale = (g.shape[0] - 1) // 255
    lo, hi = z_range[0] * scale, z_range[1] * scale
    ok = (dark >= lo) & (dark <= hi) & (bright >= lo) & (bright <= hi)
    channel = np.nonzero(ok)[2]
    return float(np.median(np.exp(g[bright[ok], channel] - g[dark[ok], channel]))), int(ok.sum())


# --- scenes ----------------------------------------------------------------------------------

def test_scene_is_deterministic_per_seed_and_differs_between_seeds():
    a = synth.render_scene(5, SIZE)
    assert a.dtype == np.float32 and a.shape == (40, 48, 3)
    assert a.tobytes() == synth.render_scene(5, SIZE).tobytes()
    assert not np.array_equal(a, synth.render_scene(6, SIZE))
    assert a.min() >= 0 and np.median(a) == pytest.approx(1.0, rel=1e-6)


def test_square_size_from_one_int_and_tiny_size_refused():
    assert synth.render_scene(0, 16).shape == (16, 16, 3)
    with pytest.raises(ValueError, match='at least 8x8'):
        synth.render_scene(0, (4, 32))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_scene_has_light_sources_hundreds_of_times_the_mean_and_deep_shadows(seed):
    radiance = synth.render_scene(seed, (128, 128))
    mean = radiance.mean()
    assert radiance.max() > 200 * mean
    # shade zone at 1-4 % of the lit level, darker still on dark albedos
    assert np.mean(radiance.max(axis=2) < 0.05 * np.median(radiance)) > 0.05


# --- camera response -------------------------------------------------------------------------

camera_params = st.builds(
    synth.CameraParams,
    gamma=st.tuples(*[st.floats(1.5, 3.0)] * 3), offset=st.floats(0.01, 0.2),
    s_mix=st.floats(0.0, 0.95), s_slope=st.floats(1.0, 12.0), s_pivot=st.floats(0.1, 0.9))


@settings(max_examples=60, deadline=None)
@given(camera_params)
def test_camera_response_is_strictly_increasing_from_0_to_1(params):
    x = np.repeat(np.linspace(0.0, 1.0, 4001)[:, None], 3, axis=1)
    y = synth.camera_response(x, params)
    assert np.allclose(y[0], 0.0, atol=1e-12) and np.allclose(y[-1], 1.0, atol=1e-12)
    assert (np.diff(y, axis=0) > 0).all()


@settings(max_examples=60, deadline=None)
@given(camera_params, st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_inverse_camera_response_inverts_it(params, levels):
    y = np.array([levels])
    x = synth.inverse_camera_response(y, params)
    assert ((x >= 0) & (x <= 1)).all()
    np.testing.assert_allclose(synth.camera_response(x, params), y, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_sampled_crf_table_is_normalised_strictly_increasing_and_exact(seed):
    params = synth.sample_camera(np.random.default_rng(seed))
    g = synth.crf_table(params)
    assert g.shape == (256, 3) and g.dtype == np.float64
    assert (g[128] == 0).all() and (np.diff(g, axis=0) > 0).all()
    # entries 1..255 are ln F^-1(z/255) up to the g(128) shift
    z = np.array([[1, 64, 200], [255, 17, 90]])
    expected = np.log(synth.inverse_camera_response(z / 255.0, params)) - np.log(
        synth.inverse_camera_response(np.full(3, 128 / 255.0), params))
    np.testing.assert_allclose(g[z, [0, 1, 2]], expected, atol=1e-9)
    # code 0 stands for the middle of its signal bin [0, F^-1(0.5/255)]
    half_bin = synth.inverse_camera_response(np.full(3, 0.5 / 255.0), params)
    first_code = synth.inverse_camera_response(np.full(3, 1 / 255.0), params)
    np.testing.assert_allclose(np.exp(g[0] - g[1]), half_bin / 2 / first_code, rtol=1e-9)


def test_crf_table_16_bit_is_normalised_at_128_times_257():
    g = synth.crf_table(synth.sample_camera(np.random.default_rng(1)), bit_depth=16)
    assert g.shape == (65536, 3) and (g[128 * 257] == 0).all()
    assert (np.diff(g, axis=0) > 0).all()
    with pytest.raises(ValueError, match='8 or 16'):
        synth.crf_table(synth.sample_camera(np.random.default_rng(1)), bit_depth=12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=30), st.floats(1e-9, 1e-3))
def test_strictly_increasing_lifts_flat_stretches_onto_the_minimum_ramp(values, step):
    table = np.array(values)[:, None]
    lifted = strictly_increasing(table, step)
    ulps = 1e-13  # the ramp is subtracted and added back: rounding only
    assert (lifted >= table - ulps).all()
    assert (np.diff(lifted, axis=0) >= step - ulps).all()
    # where the input already rises by at least the step, nothing changes
    rising = np.cumsum(np.abs(table) + step, axis=0)
    np.testing.assert_allclose(strictly_increasing(rising, step), rising, rtol=0, atol=ulps)
    # a flat run becomes the ramp itself
    flat = np.zeros((5, 1))
    np.testing.assert_allclose(strictly_increasing(flat, step),
                               step * np.arange(5)[:, None], rtol=0, atol=ulps)


# --- exposure and sensor ---------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1000), st.floats(40.0, 220.0))
def test_mid_exposure_puts_the_noise_free_median_on_target(seed, target):
    rng = np.random.default_rng(seed)
    radiance = np.exp(rng.normal(0.0, 2.0, size=(30, 20, 3)))
    params = synth.sample_camera(rng)
    t = synth.choose_mid_exposure(radiance, params, target)
    codes = 255.0 * synth.camera_response(radiance * t, params)
    # 1800 samples: the median sits between two neighbouring sample codes around the target
    assert np.median(codes) == pytest.approx(target, abs=1.5)


@given(st.floats(1e-3, 10.0), st.floats(0.5, 8.0))
def test_bracket_times_span_ev_stops_around_their_geometric_mean(t_mid, ev):
    low, mid, high = synth.bracket_times(t_mid, ev)
    assert high / low == pytest.approx(2 ** ev, rel=1e-12)
    assert mid == t_mid and np.sqrt(low * high) == pytest.approx(mid, rel=1e-12)


def test_noise_free_bracket_is_the_quantised_response_of_clipped_signal():
    radiance = synth.render_scene(2, SIZE)
    params = synth.sample_camera(np.random.default_rng(0))
    times = (0.01, 0.1, 1.0)
    frames = synth.render_bracket(radiance, times, params, np.random.default_rng(0),
                                  shot_noise=0.0, read_noise=0.0)
    for t, frame in zip(times, frames):
        expected = to_dtype(synth.camera_response(np.minimum(radiance * t, 1.0), params), np.uint8)
        np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize('shot, read', [(1e-3, 0.0), (0.0, 4e-3), (5e-4, 2e-3)])
def test_sensor_noise_variance_is_shot_times_signal_plus_read_squared(shot, read):
    signal = 0.3
    params = synth.sample_camera(np.random.default_rng(3))
    frame, = synth.render_bracket(np.full((200, 200, 3), signal), [1.0], params,
                                  np.random.default_rng(4), shot_noise=shot, read_noise=read,
                                  bit_depth=16)
    assert frame.dtype == np.uint16
    recovered = synth.inverse_camera_response(frame / 65535.0, params)
    assert recovered.mean() == pytest.approx(signal, rel=2e-3)
    assert recovered.var() == pytest.approx(shot * signal + read ** 2, rel=0.05)


@pytest.mark.parametrize('seed', SEEDS)
def test_frames_are_ordered_and_mid_median_is_on_target(seed):
    _, _, _, (low, mid, high) = _bracket(seed)
    assert all(f.dtype == np.uint8 and f.shape == (40, 48, 3) for f in (low, mid, high))
    assert low.mean() + 10 < mid.mean() < high.mean() - 10
    assert 100 <= np.median(mid) <= 130


def test_four_ev_brackets_clip_the_bright_frame_and_crush_the_dark_one():
    stats = [synth.bracket_stats(*_bracket(seed)[3]) for seed in SEEDS]
    clipped = np.array([s['high_clipped'] for s in stats])
    black = np.array([s['low_black'] for s in stats])
    assert (clipped > 0.2).all()
    assert (black > 0.02).sum() >= 6
    assert np.median(black) > 0.05


@pytest.mark.parametrize('seed', [0, 3, 6])
def test_saved_style_crf_maps_dark_and_bright_codes_to_the_exposure_ratio(seed):
    _, camera, times, (low, mid, high) = _bracket(seed, size=(64, 64))
    g = synth.crf_table(camera)
    ratio, count = _median_exposure_ratio(low, high, g)
    assert count > 300 and ratio == pytest.approx(times[2] / times[0], rel=0.1)
    ratio, _ = _median_exposure_ratio(low, mid, g)
    assert ratio == pytest.approx(4.0, rel=0.05)


def test_render_bracket_rejects_bad_settings():
    params = synth.sample_camera(np.random.default_rng(0))
    with pytest.raises(ValueError, match='8 or 16'):
        synth.render_bracket(np.ones((8, 8, 3)), [1.0], params, np.random.default_rng(0),
                             bit_depth=10)
    with pytest.raises(ValueError, match='non-negative'):
        synth.render_bracket(np.ones((8, 8, 3)), [1.0], params, np.random.default_rng(0),
                             read_noise=-1.0)


# --- data set --------------------------------------------------------------------------------

def test_dataset_layout_tables_and_crf_match_the_rendering(tmp_path):
    summary = synth.write_synthetic_dataset(tmp_path / 'd', scenes=3, val_scenes=2, size=SIZE,
                                            seed=7)
    root = tmp_path / 'd'
    names = {'train': ['scene0000', 'scene0001', 'scene0002'], 'val': ['scene0003', 'scene0004']}
    assert {s: summary['splits'][s]['names'] for s in names} == names
    for split, split_names in names.items():
        table = read_table(root / split / 'exposures.txt', 3)
        assert list(table) == split_names
        for name in split_names:
            t_low, t_mid, t_high = table[name]
            assert t_high / t_low == pytest.approx(16.0, rel=1e-7)
            assert t_mid == pytest.approx(np.sqrt(t_low * t_high), rel=1e-7)
            low, mid, high = (read_image(root / split / f / f'{name}.png') for f in synth.FRAMES)
            g = np.load(root / split / 'crf' / f'{name}.npy')
            assert g.shape == (256, 3) and (g[128] == 0).all() and (np.diff(g, axis=0) > 0).all()
            ratio, _ = _median_exposure_ratio(low, high, g)
            assert ratio == pytest.approx(t_high / t_low, rel=0.1)
    # scene i is seed + i: val scene 0003 is the bracket of seed 10
    _, _, times, frames = _bracket(10)
    assert read_table(root / 'val' / 'exposures.txt', 3)['scene0003'] == pytest.approx(times)
    np.testing.assert_array_equal(read_image(root / 'val' / 'high' / 'scene0003.png'), frames[2])
    assert (root / 'train' / 'exposures.txt').read_text().startswith('# ')


def test_dataset_is_byte_identical_for_a_seed_and_differs_for_another(tmp_path):
    kwargs = dict(scenes=2, val_scenes=1, size=(32, 24))
    synth.write_synthetic_dataset(tmp_path / 'a', seed=3, **kwargs)
    synth.write_synthetic_dataset(tmp_path / 'b', seed=3, **kwargs)
    synth.write_synthetic_dataset(tmp_path / 'c', seed=4, **kwargs)
    a, b, c = (_files(tmp_path / x) for x in 'abc')
    assert len(a) == 3 * 4 + 2 and a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.endswith('.png'))


def test_sixteen_bit_dataset_has_sixteen_bit_frames_and_full_crf(tmp_path):
    synth.write_synthetic_dataset(tmp_path, scenes=1, val_scenes=0, size=(40, 40), bit_depth=16)
    low, high = (read_image(tmp_path / 'train' / f / 'scene0000.png') for f in ('low', 'high'))
    g = np.load(tmp_path / 'train' / 'crf' / 'scene0000.npy')
    assert low.dtype == np.uint16 and g.shape == (65536, 3)
    assert _median_exposure_ratio(low, high, g)[0] == pytest.approx(16.0, rel=0.1)
    assert not (tmp_path / 'val').exists()


def test_dataset_refuses_non_empty_destination_and_bad_settings(tmp_path):
    (tmp_path / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError, match='not empty'):
        synth.write_synthetic_dataset(tmp_path, scenes=1, val_scenes=0, size=SIZE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['keep.txt']
    with pytest.raises(NotADirectoryError):
        synth.write_synthetic_dataset(tmp_path / 'keep.txt', scenes=1, size=SIZE)
    for bad in (dict(scenes=0), dict(seed=-1), dict(ev=0.0), dict(bit_depth=12)):
        with pytest.raises(ValueError):
            synth.write_synthetic_dataset(tmp_path / 'new', **{'scenes': 1, 'size': SIZE, **bad})


def test_overwrite_replaces_generated_scenes_and_keeps_other_files(tmp_path):
    synth.write_synthetic_dataset(tmp_path, scenes=3, val_scenes=1, size=SIZE)
    (tmp_path / 'notes.txt').write_text('mine')
    synth.write_synthetic_dataset(tmp_path, scenes=2, val_scenes=0, size=SIZE, overwrite=True)
    assert sorted(p.name for p in (tmp_path / 'train' / 'mid').iterdir()) == [
        'scene0000.png', 'scene0001.png']
    assert sorted(p.name for p in (tmp_path / 'train' / 'crf').iterdir()) == [
        'scene0000.npy', 'scene0001.npy']
    assert list(read_table(tmp_path / 'train' / 'exposures.txt', 3)) == ['scene0000', 'scene0001']
    assert not any(p.is_file() for p in (tmp_path / 'val').rglob('*'))
    assert (tmp_path / 'notes.txt').read_text() == 'mine'


# --- command line ----------------------------------------------------------------------------

def test_cli_json_summary_agrees_with_the_written_files(tmp_path):
    dst = tmp_path / 'syn'
    rc, out, _ = _run_cli(['synth', str(dst), '--scenes', '2', '--val-scenes', '1',
                           '--size', '48x40', '--seed', '11', '--ev', '3', '--json'])
    assert rc == 0
    summary = json.loads(out)
    assert summary['scenes'] == 3 and summary['size'] == [48, 40] and summary['seed'] == 11
    assert summary['splits']['train']['scenes'] == 2 and summary['splits']['val']['scenes'] == 1
    for scene in summary['per_scene']:
        frames = [read_image(dst / scene['split'] / f / f"{scene['name']}.png")
                  for f in synth.FRAMES]
        assert frames[0].shape == (40, 48, 3)
        stats = synth.bracket_stats(*frames)
        assert {k: scene[k] for k in stats} == pytest.approx(stats)
        assert 100 <= scene['mid_median'] <= 130
        table = read_table(dst / scene['split'] / 'exposures.txt', 3)
        assert table[scene['name']] == pytest.approx(scene['times'], rel=1e-8)
        assert scene['times'][2] / scene['times'][0] == pytest.approx(8.0)
    assert summary['high_clipped']['mean'] == pytest.approx(
        np.mean([s['high_clipped'] for s in summary['per_scene']]))


def test_cli_refuses_non_empty_destination_unless_overwrite(tmp_path):
    (tmp_path / 'old.txt').write_text('x')
    rc, out, err = _run_cli(['synth', str(tmp_path), '--scenes', '1', '--size', '16x16'])
    assert rc == 2 and out == '' and str(tmp_path) in err and '--overwrite' in err
    assert not (tmp_path / 'train').exists()
    rc, out, _ = _run_cli(['synth', str(tmp_path), '--scenes', '1', '--val-scenes', '0',
                           '--size', '16x16', '--overwrite'])
    assert rc == 0 and 'wrote 1 train + 0 val scenes (16x16, 4 EV, 8-bit)' in out
    assert (tmp_path / 'train' / 'high' / 'scene0000.png').is_file()


def test_cli_rejects_malformed_size():
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        cli.main(['synth', 'x', '--size', '256'])


def test_cli_defaults_mirror_the_generator_defaults():
    args = cli.build_parser().parse_args(['synth', 'dst'])
    assert (args.scenes, args.val_scenes, args.size, args.ev, args.bit_depth) == (
        synth.DEFAULT_SCENES, synth.DEFAULT_VAL_SCENES, synth.DEFAULT_SIZE, synth.DEFAULT_EV, 8)
    assert (args.shot_noise, args.read_noise) == (synth.DEFAULT_SHOT_NOISE,
                                                  synth.DEFAULT_READ_NOISE)
    assert synth_command.DEFAULT_SIZE == synth.DEFAULT_SIZE
