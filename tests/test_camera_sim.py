"""The realistic bracket simulator: responses, noise model, determinism, the DoRF split, layout."""
import json
import subprocess
import sys
from dataclasses import asdict, replace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from expinterp_plugin.commands import simulate as simulate_cmd
from expinterp_plugin.exposure import camera_sim as cs, crf_prior
from expinterp_plugin.exposure.imf import imf_table
from expinterp_plugin.exposure.io import ImageError
from expinterp_plugin.pair import Pair

CLEAN = cs.SimConfig(size=96, noise=False, jpeg_prob=0.0, shift_prob=0.0)


def fake_dorf(path, count=9):
    """A DoRF-shaped .mat of power-law curves (gammas 1.4..3.0), so tests need no shared data."""
    irradiance = np.tile(np.linspace(0, 1, 1024), (count, 1))
    gammas = np.linspace(1.4, 3.0, count)[:, None]
    savemat(path, {'I': irradiance.astype(np.float32),
                   'B': (irradiance ** (1 / gammas)).astype(np.float32)})
    return path


def radiance_folder(folder, count=2, size=(160, 120)):
    """Radiance .hdr maps spanning ~12 stops (log ramp x texture), written with OpenCV."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    h, w = size[1], size[0]
    for n in range(count):
        ramp = np.exp2(np.linspace(-6, 6, w))[None, :, None] * np.ones((h, 1, 3))
        texture = cv2.GaussianBlur(rng.uniform(0.3, 1.7, (h, w, 3)), (0, 0), 2)
        cv2.imwrite(str(folder / f'scene{n}.hdr'), (ramp * texture).astype(np.float32))
    return folder


@pytest.fixture
def sim_inputs(tmp_path):
    files, _ = cs.radiance_files(radiance_folder(tmp_path / 'hdr'))
    return files, cs.load_dorf(fake_dorf(tmp_path / 'dorf.mat'))


def test_dorf_split_holds_out_every_third_curve():
    train, val = cs.dorf_split(201)
    assert len(train) == 134 and len(val) == 67
    assert set(val) == {i for i in range(201) if i % 3 == 2}
    assert not set(train) & set(val) and len(set(train) | set(val)) == 201


def imf_errors(sample, dorf):
    """(|predicted - rendered|, quantisation bound) in codes, for low and mid predicted from mid
    and high by the true IMF L. The source code z stands for a bin of half-width 0.5 and the
    destination is rounded: the bound is 0.5 * (steepest step of L next to z) + 0.5."""
    camera = sample['camera']
    crf = crf_prior.curve_crf(dorf[0], dorf[1], camera.curve)
    t_low, t_mid, t_high = sample['times']
    errors, bounds = [], []
    for src, dst, ratio in ((sample['mid'], sample['low'], t_low / t_mid),
                            (sample['high'], sample['mid'], t_mid / t_high)):
        table = imf_table(crf, ratio)
        step = np.diff(table, axis=0)
        steepest = np.maximum(np.vstack([step[:1], step]), np.vstack([step, step[-1:]]))
        usable = (src > 2) & (src < 253)
        channels = np.broadcast_to(np.arange(3), src.shape)
        errors.append(np.abs(table[src, channels] - dst)[usable])
        bounds.append((0.5 * steepest[src, channels] + 0.5)[usable])
    return np.concatenate(errors), np.concatenate(bounds)


def test_noise_free_renders_obey_the_true_response(sim_inputs):
    files, dorf = sim_inputs
    for index in range(4):
        sample = cs.simulate_sample(3, index, files, [0, 4, 8], dorf, CLEAN)
        errors, bounds = imf_errors(sample, dorf)
        assert errors.size > 1000
        # Only the rounding of the codes remains (plus a hundredth of a code: the linear IMF
        # interpolates log irradiance between table points).
        assert errors.mean() < 0.3 and np.all(errors <= bounds + 0.01)


def test_noise_free_renders_obey_real_dorf_curves(sim_inputs, shared_data):
    files, _ = sim_inputs
    dorf = cs.load_dorf(shared_data('crf', 'dorf_201_crf.mat'))
    _, val = cs.dorf_split()
    for index in range(6):
        errors, bounds = imf_errors(cs.simulate_sample(0, index, files, val, dorf, CLEAN), dorf)
        # Measured curves bend more between table points than power laws do.
        assert np.all(errors <= bounds + 0.1)


@pytest.mark.parametrize('x', [0.02, 0.2, 0.6])
@pytest.mark.parametrize('iso_gain', [1.0, 8.0])
def test_noise_statistics_match_the_poisson_gaussian_model(x, iso_gain):
    rng = np.random.default_rng(0)
    out = cs.sensor_signal(np.full(400_000, x), iso_gain, rng)
    variance = iso_gain / cs.FULL_WELL * x + (cs.READ_NOISE * iso_gain) ** 2
    assert abs(out.mean() - x) < 4 * np.sqrt(variance / out.size) + 1e-6
    assert out.var() == pytest.approx(variance, rel=0.02)


def test_noise_free_signal_is_the_clipped_exposure():
    x = np.array([-0.1, 0.0, 0.3, 1.0, 2.5])
    np.testing.assert_array_equal(cs.sensor_signal(x, 4.0, None, noise=False),
                                  [0.0, 0.0, 0.3, 1.0, 1.0])


def test_seeds_reproduce_and_differ(sim_inputs):
    files, dorf = sim_inputs
    cfg = cs.SimConfig(size=64, shift_prob=1.0, jpeg_prob=1.0)
    a, b = (cs.simulate_sample(5, 2, files, [0, 1, 3], dorf, cfg) for _ in range(2))
    for frame in cs.FRAMES:
        np.testing.assert_array_equal(a[frame], b[frame])
    assert a['camera'] == b['camera']
    other = cs.simulate_sample(6, 2, files, [0, 1, 3], dorf, cfg)
    assert not np.array_equal(a['mid'], other['mid'])


def test_brackets_are_ev_apart_with_the_middle_at_the_geometric_mean(sim_inputs):
    files, dorf = sim_inputs
    sample = cs.simulate_sample(0, 0, files, [2], dorf, replace(CLEAN, ev=3.0))
    t_low, t_mid, t_high = sample['times']
    assert np.log2(t_high / t_low) == pytest.approx(3.0)
    assert t_mid == pytest.approx(np.sqrt(t_low * t_high))
    assert sample['low'].mean() < sample['mid'].mean() < sample['high'].mean()


def test_training_draws_never_use_held_out_curves(sim_inputs):
    files, _ = sim_inputs
    train, val = cs.dorf_split(201)
    dorf = (np.tile(np.linspace(0, 1, 1024), (201, 1)),) * 2
    cfg = cs.SimConfig(size=32)
    curves = {cs.draw_camera(np.random.default_rng([1, i]), files, train, dorf, cfg)[0].curve
              for i in range(400)}
    assert curves <= set(train) and len(curves) > 90


def dataset(root, backend='disk'):
    import expinterp_plugin  # noqa: F401
    from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset
    return ExposureTripletDataset({'name': 't', 'dataroot': str(root), 'mode': 'conditioned',
                                   'io_backend': {'type': backend}, 'phase': 'val'})


@pytest.mark.slow
def test_written_dataset_is_deterministic_split_pure_and_readable(tmp_path):
    from expinterp_plugin.commands._common import LMDB_WRITERS
    hdr = radiance_folder(tmp_path / 'hdr')
    dorf = fake_dorf(tmp_path / 'dorf.mat', count=12)
    cfg = cs.SimConfig(size=64)
    one = cs.write_simulated_dataset(tmp_path / 'a', hdr, dorf, 'val', samples=5, seed=2,
                                     config=cfg, workers=1)
    cs.write_simulated_dataset(tmp_path / 'b', hdr, dorf, 'val', samples=5, seed=2, config=cfg,
                               workers=2, lmdb_writer=LMDB_WRITERS['png'])
    assert one['samples'] == 5 and one['samples_per_s'] > 0
    for frame in cs.FRAMES:
        for name in (tmp_path / 'a' / frame).iterdir():
            assert name.read_bytes() == (tmp_path / 'b' / frame / name.name).read_bytes()
    meta = json.loads((tmp_path / 'a' / 'cameras.json').read_text())
    assert meta['curves'] == [2, 5, 8, 11]
    assert {s['curve'] for s in meta['samples'].values()} <= {2, 5, 8, 11}
    # y0 of the dataset is the library default pair path (a Pair with the bracket's times) on
    # the written frames.
    disk, lmdb = dataset(tmp_path / 'a'), dataset(tmp_path / 'b', 'lmdb')
    sample = disk[0]
    low, _, high = disk.load_frames(0)
    t_low, t_mid, t_high = (disk.records[0][k] for k in ('t_low', 't_mid', 't_high'))
    expected = Pair(low, high, (t_low, t_high), t_target=t_mid).y0()
    np.testing.assert_allclose(sample['y0'].numpy().transpose(1, 2, 0), expected, atol=1e-6)
    np.testing.assert_array_equal(sample['lq'][:3].numpy(), sample['y0'].numpy())
    np.testing.assert_array_equal(sample['lq'].numpy(), lmdb[0]['lq'].numpy())


def test_overwrite_replaces_only_a_simulated_dataset(tmp_path):
    hdr = radiance_folder(tmp_path / 'hdr')
    dorf = fake_dorf(tmp_path / 'dorf.mat')
    cfg = cs.SimConfig(size=64)
    photos = tmp_path / 'photos'
    photos.mkdir()
    (photos / 'keep.jpg').write_bytes(b'a photo')
    with pytest.raises(ImageError, match='not written by expinterp simulate'):
        cs.write_simulated_dataset(photos, hdr, dorf, 'val', samples=2, config=cfg,
                                   overwrite=True)
    assert (photos / 'keep.jpg').read_bytes() == b'a photo'
    with pytest.raises(ImageError, match='inside the source folder'):
        cs.write_simulated_dataset(hdr / 'out', hdr, dorf, 'val', samples=2, config=cfg)
    first = tmp_path / 'sim'
    cs.write_simulated_dataset(first, hdr, dorf, 'val', samples=2, seed=0, config=cfg)
    cs.write_simulated_dataset(first, hdr, dorf, 'val', samples=3, seed=1, config=cfg,
                               overwrite=True)
    assert len(list((first / 'mid').iterdir())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['dorf.mat', 'hdr', 'photos', 'sim']


def test_cli_defaults_mirror_the_config_and_errors_are_one_line(tmp_path):
    cfg = cs.SimConfig()
    assert (simulate_cmd.DEFAULT_SIZE, simulate_cmd.DEFAULT_EV, simulate_cmd.DEFAULT_ISO_MAX,
            simulate_cmd.DEFAULT_JPEG_PROB, simulate_cmd.DEFAULT_SHIFT_PROB) == (
        cfg.size, cfg.ev, cfg.iso[1], cfg.jpeg_prob, cfg.shift_prob)
    result = subprocess.run([sys.executable, '-m', 'expinterp_plugin.cli', 'simulate',
                             str(tmp_path / 'out'), '--radiance', str(tmp_path / 'nothing'),
                             '--dorf', str(tmp_path / 'd.mat')], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'expinterp: error: {tmp_path / "nothing"}: not a folder']


def test_missing_dorf_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='dorf.mat: DoRF file not found'):
        cs.load_dorf(tmp_path / 'dorf.mat')


@given(st.floats(1.2, 3.0))
@settings(max_examples=20, deadline=None)
def test_a_dorf_style_curve_becomes_its_inverse_table(gamma):
    irradiance = np.linspace(0, 1, 1024)
    crf = crf_prior.curve_crf(irradiance[None], irradiance[None] ** (1 / gamma), 0)
    # g(z) = ln F^-1(z / 255), normalised at code 128; below code 48 the 1024-sample grid of
    # a DoRF-style curve is too coarse for the steep start of x^(1/gamma).
    codes = np.arange(48, 256)
    expected = gamma * np.log(codes / 255.0) - gamma * np.log(128 / 255.0)
    np.testing.assert_allclose(crf.g[codes, 1], expected, atol=0.02)


@pytest.mark.skipif(not cs.exr_available(),
                    reason="OpenEXR not installed (pip install -e '.[exr]')")
def test_luminance_chroma_exr_becomes_rgb(shared_data):
    rgb = cs.load_radiance(shared_data('hdr', 'oexr_hydrangea_yc.exr'))
    assert rgb.shape == (734, 784, 3) and rgb.dtype == np.float32 and rgb.min() >= 0
    assert np.median(rgb @ cs.LUMA) == pytest.approx(1.0, rel=1e-3)
    # Blue hydrangeas: blue dominates red in the median.
    assert np.median(rgb[..., 2]) > np.median(rgb[..., 0])


def test_config_survives_the_job_round_trip():
    cfg = cs.SimConfig(size=80, iso=(1.0, 4.0))
    assert cs.config_from_dict(json.loads(json.dumps(asdict(cfg)))) == cfg
