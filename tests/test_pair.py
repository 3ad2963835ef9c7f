"""The pair pipeline (expinterp_plugin.pair) and the network-input modes (expinterp_plugin.modes):
checks once, times with their source, CRF once, lq per mode. No torch."""
import subprocess
import sys

import numpy as np
import pytest

from expinterp_plugin import modes, pair as pair_module
from expinterp_plugin.exposure import interpolate_exposure, mertens_fuse
from expinterp_plugin.exposure.crf import preset_crf
from expinterp_plugin.exposure.estimate import estimate_pair_exposure
from expinterp_plugin.exposure.io import to_dtype, write_image
from expinterp_plugin.exposure.y0 import Y0Mapper
from expinterp_plugin.fusion import coarse_middle_codes, fuse_pair
from expinterp_plugin.pair import ExposureTimes, Pair, read_pair
from test_core_prepare import TIMES, render_frames

T_DARK, T_BRIGHT = TIMES[0], TIMES[-1]


@pytest.fixture(scope='module')
def frames():
    """(dark, bright) RGB uint8 (48, 64, 3) of an sRGB camera, 4 EV apart."""
    rendered = render_frames()
    return rendered[0], rendered[-1]


def write_pair(folder, frames):
    dark, bright = frames
    write_image(folder / 'dark.png', dark)
    write_image(folder / 'bright.png', bright)
    return folder / 'dark.png', folder / 'bright.png'


def counting(monkeypatch, module, name):
    """Wrap ``module.name`` so that calls are counted; returns the list of calls."""
    calls, original = [], getattr(module, name)

    def wrapped(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, wrapped)
    return calls


class TestTimes:
    def test_arguments_win_and_say_so(self, tmp_path, frames):
        dark, bright = write_pair(tmp_path, frames)
        (tmp_path / 'list.txt').write_text('dark.png 1\nbright.png 2\n')
        pair = read_pair(dark, bright, times=(T_DARK, T_BRIGHT), exposures=tmp_path / 'list.txt')
        assert pair.times == ExposureTimes(T_DARK, T_BRIGHT, 'arguments')
        assert pair.t_target == pytest.approx(np.sqrt(T_DARK * T_BRIGHT))

    def test_list_file_then_estimated_ratio(self, tmp_path, frames):
        dark, bright = write_pair(tmp_path, frames)
        (tmp_path / 'list.txt').write_text('dark.png 0.01\nbright.png 0.16\n')
        listed = read_pair(dark, bright, exposures=tmp_path / 'list.txt', t_target=0.05)
        assert listed.times == ExposureTimes(0.01, 0.16, 'exposures file')
        assert listed.t_target == 0.05
        estimated = read_pair(dark, bright, crf='srgb')
        found = estimate_pair_exposure(*frames, crf=preset_crf('srgb'))
        times = estimated.times
        assert (times.t_dark, times.t_bright, times.source) == (1.0, found.ratio,
                                                                'estimated ratio')
        assert times.estimate.method == 'known-crf'
        assert times.estimate_record()['ratio'] == pytest.approx(found.ratio, rel=1e-4)
        # the true ratio is 16 (4 EV); sRGB is this camera's response
        assert found.ratio == pytest.approx(16, rel=0.15)
        # the CRF to be estimated: ratio and response fitted together under the DoRF prior
        joint = read_pair(dark, bright).times
        assert joint.estimate.method == 'joint-prior' and joint.t_bright > 1
        assert listed.times.estimate is None and listed.times.estimate_record() is None

    def test_estimated_times_keep_the_joint_response_so_y0_ignores_the_spacing_prior(
            self, tmp_path, frames):
        dark, bright = write_pair(tmp_path, frames)
        pair = read_pair(dark, bright)
        found = pair.times.estimate
        assert pair.crf is found.crf
        alone = estimate_pair_exposure(*frames, ratio_prior=None)
        assert abs(np.log2(alone.ratio) - np.log2(found.ratio)) > 0.1
        np.testing.assert_allclose(pair.y0(), Y0Mapper(alone.crf, 1.0, alone.ratio)(*frames),
                                   atol=1e-5)
        # another pair estimator is fitted at the reported ratio
        other = read_pair(dark, bright, crf='pair:polynomial')
        assert other.crf.name == 'polynomial' and other.t_bright == pair.t_bright

    def test_a_list_without_the_files_is_named(self, tmp_path, frames):
        dark, bright = write_pair(tmp_path, frames)
        (tmp_path / 'list.txt').write_text('dark.png 0.01\n')
        with pytest.raises(ValueError, match=r'list\.txt: no time for bright\.png'):
            read_pair(dark, bright, exposures=tmp_path / 'list.txt').times

    def test_bad_times_and_target_are_refused_on_first_use(self, frames):
        with pytest.raises(ValueError, match='must be shorter'):
            Pair(*frames, (T_BRIGHT, T_DARK)).t_target
        with pytest.raises(ValueError, match='outside'):
            Pair(*frames, (T_DARK, T_BRIGHT), t_target=1.0).crf


class TestOnce:
    def test_checks_times_and_crf_happen_once_per_pair(self, frames, monkeypatch):
        checks = counting(monkeypatch, pair_module, 'check_pair')
        validations = counting(monkeypatch, pair_module, 'validate_times')
        crfs = counting(monkeypatch, pair_module, 'resolve_pair_crf')
        pair = Pair(*frames, (T_DARK, T_BRIGHT), crf='pair', names=('d.png', 'b.png'))
        y0 = pair.y0()
        fused = fuse_pair(pair, lambda p: p.model_driven(), keep_y0=True)
        pair.mapper(20, 240)
        assert (len(checks), len(validations), len(crfs)) == (1, 1, 1)
        np.testing.assert_array_equal(y0, interpolate_exposure(*frames, T_DARK, T_BRIGHT))
        np.testing.assert_array_equal(fused.y0, fused.middle)
        np.testing.assert_array_equal(fused.middle, to_dtype(y0, np.uint8))
        np.testing.assert_array_equal(
            fused.fused, coarse_middle_codes(frames[0], to_dtype(y0, np.uint8), frames[1]))
        three = fuse_pair(pair, lambda p: p.model_driven(), method='three-frame')
        np.testing.assert_array_equal(
            three.fused, mertens_fuse([frames[1], to_dtype(y0, np.uint8), frames[0]]))

    def test_plain_fusion_without_deghosting_needs_neither_times_nor_crf(self, tmp_path, frames,
                                                                        monkeypatch):
        # Looking for moving subjects needs the pair's model; without it nothing is looked up.
        def unreachable(*args, **kwargs):
            raise AssertionError('looked up although the fusion of the pair alone needs none')
        for name in ('recorded_times', 'estimated_times', 'resolve_pair_crf', 'Y0Mapper'):
            monkeypatch.setattr(pair_module, name, unreachable)
        result = fuse_pair(read_pair(*write_pair(tmp_path, frames), deghost=False))
        np.testing.assert_array_equal(result.fused, mertens_fuse([frames[1], frames[0]]))
        assert result.middle is None and result.mapper is None

    def test_a_swapped_pair_is_refused_with_the_file_names(self, tmp_path, frames):
        dark, bright = write_pair(tmp_path, frames)
        with pytest.raises(ValueError, match=r'bright\.png .* is brighter than .*dark\.png'):
            read_pair(bright, dark)

    def test_pair_fusion_modes_and_triplet_store_import_no_torch(self):
        code = ('import sys, expinterp_plugin.pair, expinterp_plugin.fusion, '
                'expinterp_plugin.modes, expinterp_plugin.triplet_store; '
                'print(sorted({"torch", "basicsr"} & set(sys.modules)))')
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                              check=True)
        assert done.stdout.strip() == '[]'


class TestModes:
    @pytest.mark.parametrize('mode,channels,planes', [
        ('hybrid', 3, ['y0']), ('conditioned', 9, ['y0', 'bright', 'dark']),
        ('direct', 6, ['bright', 'dark'])])
    def test_network_input_stacks_the_mode_planes_in_order(self, frames, mode, channels, planes):
        dark, bright = frames
        y0 = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb')
        unit = {'y0': y0, 'bright': bright / np.float32(255), 'dark': dark / np.float32(255)}
        lq = modes.network_input(mode, y0 if 'y0' in planes else None, bright, dark)
        assert lq.dtype == np.float32 and lq.shape == (*dark.shape[:2], channels)
        assert modes.lq_channels(mode) == channels
        for i, name in enumerate(planes):
            np.testing.assert_allclose(lq[..., 3 * i:3 * i + 3], unit[name], rtol=0, atol=1e-7)

    def test_the_model_option_is_the_mode_and_datasets_must_follow(self):
        assert modes.mode_from_options({'mode': 'conditioned',
                                        'datasets': {'train': {'mode': 'conditioned'}}}) \
            == 'conditioned'
        # option files from before the model-level key: the datasets' common mode
        assert modes.mode_from_options({'datasets': {'train': {'mode': 'direct'},
                                                     'val': {'mode': 'direct'}}}) == 'direct'
        assert modes.mode_from_options({}) == 'hybrid'
        assert modes.residual_from_options({'mode': 'direct'}) is False
        assert modes.residual_from_options({'mode': 'direct', 'residual': True}) is True
        with pytest.raises(ValueError, match=r'x\.yml: dataset val is in mode .hybrid. but the '
                                             r'model in .conditioned.'):
            modes.mode_from_options({'mode': 'conditioned', 'datasets': {
                'train': {'mode': 'conditioned'}, 'val': {}}}, 'x.yml')
        with pytest.raises(ValueError, match="mode 'triple' not one of hybrid"):
            modes.mode_from_options({'mode': 'triple'})
