"""`simulate --camera-motion / --moving-objects`: handheld brackets from radiance maps (issue 18).

The middle frame is the reference (the scene's geometry); the dark and bright frames are moved.
Everything is made in tmp_path: small textured radiance maps and power-law DoRF-shaped curves.
"""
import hashlib
import json
import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from expinterp_plugin.commands import simulate as simulate_cmd
from expinterp_plugin.exposure import camera_sim as cs
from expinterp_plugin.exposure.align import apply_matrix, corner_displacement, estimate_alignment
from test_camera_sim import fake_dorf, radiance_folder

STILL = cs.SimConfig(size=160, jpeg_prob=0.0, shift_prob=0.0)


def textured_folder(folder, count=2, size=(480, 360)):
    """Radiance maps of several octaves of log texture (~12 stops), tinted: detail in every
    direction, as the aligner needs (a log ramp makes a shift along it look like exposure)."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    w, h = size
    for n in range(count):
        log = np.zeros((h, w))
        for sigma in (2, 6, 18):
            log += cv2.GaussianBlur(rng.standard_normal((h, w)), (0, 0), sigma) * sigma ** 0.5
        tint = rng.uniform(0.7, 1.3, 3)
        radiance = np.exp2(3 * log / log.std())[..., None] * tint
        cv2.imwrite(str(folder / f'tex{n}.hdr'), radiance.astype(np.float32))
    return folder


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp('sim')
    files, _ = cs.radiance_files(textured_folder(root / 'hdr'))
    return files, cs.load_dorf(fake_dorf(root / 'dorf.mat')), root


def digest(img):
    return hashlib.sha256(img.tobytes()).hexdigest()[:16]


def test_default_off_is_bit_identical(tmp_path):
    files, _ = cs.radiance_files(radiance_folder(tmp_path / 'hdr'))
    dorf = cs.load_dorf(fake_dorf(tmp_path / 'dorf.mat'))
    cfg = cs.SimConfig(size=48, jpeg_prob=0.0, shift_prob=0.5)
    # SHA-256 (first 16 hex) of the (low, mid, high) frames, recorded with the simulator as it
    # was before camera motion and moving objects existed.
    before = [('17fa0ae432a7ad48', 'bec13e5385bc7bd5', 'ffb80574c50ab3e3'),
              ('dcdf6d2b5d3c0231', 'fc432c520dee2b84', '0b3453ba9099fe64'),
              ('942436fc78dcfcae', '141a33644382bd1b', 'da56d59966ce4e9c')]
    # Handheld settings with both switches off change nothing either.
    idle = replace(cfg, camera_rotation=5.0, motion_prob=1.0, object_shift=0.2, object_prob=1.0)
    for index, expected in enumerate(before):
        for config in (cfg, idle):
            sample = cs.simulate_sample(11, index, files, [0, 3, 6], dorf, config)
            assert tuple(digest(sample[f]) for f in cs.FRAMES) == expected
            assert not sample['camera'].motion and not sample['camera'].objects
    # cameras.json of a tripod data set keeps its old keys.
    cs.write_simulated_dataset(tmp_path / 'out', tmp_path / 'hdr', tmp_path / 'dorf.mat',
                               samples=2, config=cfg)
    meta = json.loads((tmp_path / 'out' / 'cameras.json').read_text())
    assert not set(cs.HANDHELD_SETTINGS) & set(meta['config'])
    for record in meta['samples'].values():
        assert not set(cs.HANDHELD_CAMERA) & set(record)


def test_camera_motion_is_measured_as_requested(inputs):
    files, dorf, _ = inputs
    size, shift, degrees = STILL.size, 0.03, 1.0
    cfg = replace(STILL, camera_motion=shift, camera_rotation=degrees, motion_prob=1.0)
    centre = np.float64([[(size - 1) / 2, (size - 1) / 2]])
    moved_centres, errors = [], []
    for index in range(6):
        sample = cs.simulate_sample(1, index, files, [0, 4, 8], dorf, cfg)
        still = cs.simulate_sample(1, index, files, [0, 4, 8], dorf, STILL)
        camera = sample['camera']
        # Only the motion is new: the camera and exposure are the tripod sample's.
        assert replace(camera, motion=(), margin=0) == still['camera']
        # The middle frame keeps the reference geometry: it lines up with the tripod one.
        assert estimate_alignment(still['mid'], sample['mid'], static_px=0.1).model == 'none'
        for matrix, frame in zip(camera.motion, ('low', 'high')):
            true = np.array(matrix)
            # Requested: a shift <= 3 % of the side at the centre, a rotation <= 1 degree.
            travel = np.hypot(*(apply_matrix(true, centre) - centre)[0])
            assert travel <= shift * size + 1e-9
            assert abs(np.degrees(np.arctan2(true[1, 0], true[0, 0]))) <= degrees + 1e-9
            measured = estimate_alignment(sample['mid'], sample[frame], 'auto', static_px=0.0)
            errors.append(corner_displacement(np.linalg.solve(true, measured.matrix), size,
                                              size))
            moved_centres.append(np.hypot(*(apply_matrix(measured.matrix, centre) -
                                            centre)[0]))
    # Measured as rendered (corners within 0.25 px), within the requested range, and using it.
    assert max(errors) < 0.25, errors
    assert max(moved_centres) <= shift * size + 0.25
    assert max(moved_centres) > 0.6 * shift * size


def test_moving_objects_change_only_their_region(inputs):
    files, dorf, _ = inputs
    size = 96
    # Noise-free: Poisson sampling draws a varying number of numbers per pixel, so other
    # radiance anywhere changes the noise of every later pixel.
    still_cfg = replace(STILL, size=size, noise=False)
    cfg = replace(still_cfg, moving_objects=2, object_prob=1.0, object_shift=0.15)
    for index in range(3):
        sample = cs.simulate_sample(4, index, files, [0, 4, 8], dorf, cfg)
        still = cs.simulate_sample(4, index, files, [0, 4, 8], dorf, still_cfg)
        objects = sample['camera'].objects
        assert len(objects) == 2 and {o['shape'] for o in objects} <= {'block', 'disc'}
        for n, frame in enumerate(cs.FRAMES):
            footprint = np.zeros((size, size), bool)
            for obj in objects:
                (w, h), (x, y) = obj['size'], obj['position']
                dx, dy = obj['displacement'][n]
                assert np.hypot(dx, dy) <= 0.15 * size + 1e-9 and (n != 1 or dx == dy == 0)
                # The box, and the one pixel bilinear placement reaches beyond it.
                x0, y0 = int(np.floor(x + dx)), int(np.floor(y + dy))
                footprint[max(y0, 0):max(y0 + h + 2, 0), max(x0, 0):max(x0 + w + 2, 0)] = True
            changed = (sample[frame] != still[frame]).any(axis=2)
            assert not (changed & ~footprint).any(), (index, frame)
            # The objects are seen: they change much of what they cover.
            assert changed.sum() > 0.3 * footprint.sum(), (index, frame)


def test_draws_are_seeded(inputs):
    files, dorf, _ = inputs
    cfg = replace(STILL, size=64, camera_motion=0.05, motion_prob=1.0, moving_objects=1,
                  object_prob=1.0, jpeg_prob=1.0, shift_prob=1.0)
    a, b = (cs.simulate_sample(9, 3, files, [0, 4], dorf, cfg) for _ in range(2))
    assert a['camera'] == b['camera']
    for frame in cs.FRAMES:
        np.testing.assert_array_equal(a[frame], b[frame])
    other = cs.simulate_sample(10, 3, files, [0, 4], dorf, cfg)
    assert other['camera'].motion != a['camera'].motion
    # Probability 0: nothing moves, and the sample is the tripod one.
    never = replace(cfg, motion_prob=0.0, object_prob=0.0)
    still = replace(cfg, camera_motion=0.0, moving_objects=0)
    for frame in cs.FRAMES:
        np.testing.assert_array_equal(cs.simulate_sample(9, 3, files, [0, 4], dorf, never)[frame],
                                      cs.simulate_sample(9, 3, files, [0, 4], dorf, still)[frame])


def simulate_cli(*args):
    return subprocess.run([sys.executable, '-m', 'expinterp_plugin.cli', 'simulate',
                           *map(str, args)], capture_output=True, text=True)


def test_cli_writes_the_motion_and_checks_its_bounds(inputs, tmp_path):
    _, _, root = inputs
    common = ['--radiance', root / 'hdr', '--dorf', root / 'dorf.mat', '--size', 64,
              '--samples', 2, '--quiet']
    result = simulate_cli(tmp_path / 'out', *common, '--camera-motion', '5px',
                          '--motion-prob', 1, '--moving-objects', 1, '--object-prob', 1,
                          '--object-shift', '10%')
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / 'out' / 'cameras.json').read_text())
    assert meta['config']['camera_motion'] == 5 / 64 and meta['config']['object_shift'] == 0.1
    for record in meta['samples'].values():
        assert len(record['motion']) == 2 and np.array(record['motion']).shape == (2, 3, 3)
        assert record['margin'] >= 5 and len(record['objects']) == 1
    # Bounds: one line, exit status 2.
    for args, message in (
            (['--camera-motion', '40%'], "argument --camera-motion: must be <= 25%, got '40%'"),
            (['--camera-motion', 'x'], 'argument --camera-motion: expected a percentage'),
            (['--camera-motion', '20px', '--size', '64'],
             'expinterp: error: --camera-motion 20px: more than 25% of --size 64'),
            (['--moving-objects', '-1'], 'argument --moving-objects: must be >= 0')):
        result = simulate_cli(tmp_path / 'bad', *common, *args)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()[-1:]
        assert message in line, result.stderr
    cfg = cs.SimConfig()
    assert (simulate_cmd.DEFAULT_CAMERA_ROTATION, simulate_cmd.DEFAULT_MOTION_PROB,
            simulate_cmd.DEFAULT_OBJECT_SHIFT_PERCENT / 100, simulate_cmd.DEFAULT_OBJECT_PROB) == (
        cfg.camera_rotation, cfg.motion_prob, cfg.object_shift, cfg.object_prob)
    assert cfg.camera_motion == 0 and cfg.moving_objects == 0
