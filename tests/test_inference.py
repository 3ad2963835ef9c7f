"""Full-resolution inference: load_interpolator, output = y0 + net(lq) per mode, tiling."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.archs import build_network
from expinterp_plugin.exposure import interpolate_exposure
from expinterp_plugin.inference import (Interpolator, load_interpolator, padded_box,
                                        tile_boxes)
from test_dataset import TIMES, expose, scene_radiance

T_DARK, T_MID, T_BRIGHT = TIMES
TINY_DENOISE = {'type': 'DenoiseNet', 'in_channels': 3, 'out_channels': 3, 'n_feat': 8,
                'num_rrg': 1, 'num_dab': 1, 'reduction': 4}
TINY_TWO_BRANCH = {'type': 'TwoBranchNet', 'num_feat': 4, 'num_branch_blocks': 1,
                   'num_fusion_blocks': 1}
# Fully convolutional, receptive field radius 5 (conv_first, 2 block convs, conv_after_body,
# conv_last): tiles with >= 5 pixels of context reproduce the untiled result.
TINY_EDSR = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
             'upscale': 1}


def option_dict(network, mode='hybrid', **dataset):
    """A minimal BasicSR training option dict for ``network`` trained in ``mode``."""
    train = {'name': 'train', 'type': 'ExposureTripletDataset', 'dataroot': 'datasets/train',
             'mode': mode}
    train.update(dataset)
    return {'name': 'tiny', 'model_type': 'HybridExposureModel', 'scale': 1,
            'datasets': {'train': train, 'val': dict(train, name='val')},
            'network_g': dict(network)}


def write_experiment(root, network, mode='hybrid', seed=0, wrap='params', **dataset):
    """experiments/tiny/{tiny.yml, models/net_g_1.pth} as BasicSR leaves them.

    Returns (checkpoint path, the network with the saved weights, in eval mode).
    """
    folder = Path(root) / 'experiments' / 'tiny'
    (folder / 'models').mkdir(parents=True)
    (folder / 'tiny.yml').write_text(yaml.safe_dump(option_dict(network, mode, **dataset)))
    torch.manual_seed(seed)
    net = build_network(network).eval()
    state = net.state_dict()
    ckpt = folder / 'models' / 'net_g_1.pth'
    torch.save(state if wrap is None else {wrap: state}, ckpt)
    return ckpt, net


def pair(size=(40, 56), seed=0, dtype=np.uint8):
    """(dark, mid, bright) RGB codes of an sRGB camera, times TIMES (4 EV apart)."""
    radiance = scene_radiance(size[0], size[1], seed)
    return tuple(expose(radiance, t, dtype) for t in TIMES)


def unit(codes):
    return codes.astype(np.float32) / np.iinfo(codes.dtype).max


def run_net(net, planes):
    """net on float32 (H, W, C) planes -> float32 (H, W, 3)."""
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))[None])
    return out[0].permute(1, 2, 0).numpy()


def psnr(a, b):
    return 10 * math.log10(1.0 / float(np.mean((a.astype(np.float64) - b) ** 2)))


class TestOutputPerMode:
    def test_hybrid_output_is_y0_plus_net_of_y0(self, tmp_path):
        ckpt, net = write_experiment(tmp_path, TINY_DENOISE, xi_l=20, xi_u=240)
        dark, _, bright = pair()
        interp = load_interpolator(ckpt)
        assert (interp.mode, interp.residual, interp.xi_l, interp.xi_u) == ('hybrid', True, 20, 240)
        y0 = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb', xi_l=20, xi_u=240)
        expected = np.clip(y0 + run_net(net, y0), 0, 1)
        out = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        assert out.dtype == np.float32 and out.shape == dark.shape
        np.testing.assert_allclose(out, expected, atol=1e-6)
        # the residual is not trivially zero, so the comparison above tests the addition
        assert np.abs(expected - y0).mean() > 1e-3
        np.testing.assert_array_equal(interp.y0(dark, bright, T_DARK, T_BRIGHT, 'srgb'), y0)

    def test_conditioned_feeds_y0_bright_dark(self, tmp_path):
        ckpt, net = write_experiment(tmp_path, dict(TINY_DENOISE, in_channels=9), 'conditioned')
        dark, _, bright = pair()
        y0 = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb', t_target=T_MID * 1.5)
        lq = np.concatenate([y0, unit(bright), unit(dark)], axis=2)
        expected = np.clip(y0 + run_net(net, lq), 0, 1)
        out = load_interpolator(ckpt)(dark, bright, T_DARK, T_BRIGHT, crf='srgb',
                                      t_target=T_MID * 1.5)
        np.testing.assert_allclose(out, expected, atol=1e-6)

    def test_direct_is_net_of_bright_dark_without_y0(self, tmp_path):
        ckpt, net = write_experiment(tmp_path, TINY_TWO_BRANCH, 'direct')
        dark, _, bright = pair()
        interp = load_interpolator(ckpt)
        assert (interp.mode, interp.residual) == ('direct', False)
        expected = np.clip(run_net(net, np.concatenate([unit(bright), unit(dark)], axis=2)), 0, 1)
        result = interp.interpolate(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        np.testing.assert_allclose(result.output, expected, atol=1e-6)
        assert result.y0 is None and result.mapper is None
        kept = interp.interpolate(dark, bright, T_DARK, T_BRIGHT, crf='srgb', keep_y0=True)
        np.testing.assert_array_equal(kept.output, result.output)
        np.testing.assert_array_equal(
            kept.y0, interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb'))

    def test_16_bit_pair(self, tmp_path):
        ckpt, net = write_experiment(tmp_path, TINY_DENOISE)
        dark, _, bright = pair(dtype=np.uint16)
        y0 = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb')
        out = load_interpolator(ckpt)(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        np.testing.assert_allclose(out, np.clip(y0 + run_net(net, y0), 0, 1), atol=1e-6)


class TestLoading:
    @pytest.mark.parametrize('wrap', [None, 'params', 'params_ema'])
    def test_checkpoint_layouts(self, tmp_path, wrap):
        ckpt, net = write_experiment(tmp_path, TINY_DENOISE, wrap=wrap)
        loaded = load_interpolator(ckpt).net
        for key, value in net.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value)

    def test_params_ema_wins_and_module_prefix_is_stripped(self, tmp_path):
        ckpt, net = write_experiment(tmp_path, TINY_DENOISE)
        ema = {f'module.{k}': v + 1 for k, v in net.state_dict().items()}
        torch.save({'params': net.state_dict(), 'params_ema': ema}, ckpt)
        loaded = load_interpolator(ckpt).net.state_dict()
        assert torch.equal(loaded['head.0.bias'], net.state_dict()['head.0.bias'] + 1)

    def test_explicit_option_file_and_dict(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        opt = ckpt.parent.parent / 'tiny.yml'
        moved = tmp_path / 'elsewhere.yml'
        opt.rename(moved)
        with pytest.raises(FileNotFoundError, match=r'no \*\.yml in .*tiny.*--opt'):
            load_interpolator(ckpt)
        assert load_interpolator(ckpt, opt=moved).mode == 'hybrid'
        assert load_interpolator(ckpt, opt=option_dict(TINY_DENOISE, 'hybrid')).residual

    def test_two_option_files_are_ambiguous(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        (ckpt.parent.parent / 'other.yml').write_text('name: other\n')
        with pytest.raises(FileNotFoundError, match=r'2 \*\.yml files \(other\.yml, tiny\.yml\)'):
            load_interpolator(ckpt)

    def test_missing_files_are_named(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='nowhere/net_g.pth: model checkpoint not'):
            load_interpolator(tmp_path / 'nowhere' / 'net_g.pth')
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        with pytest.raises(FileNotFoundError, match='missing.yml: option file not found'):
            load_interpolator(ckpt, opt=tmp_path / 'missing.yml')

    def test_options_without_a_network_are_refused(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        (ckpt.parent.parent / 'tiny.yml').write_text('name: tiny\n')
        with pytest.raises(ValueError, match=r'tiny\.yml: not BasicSR options with a network_g'):
            load_interpolator(ckpt)
        with pytest.raises(ValueError, match='the options: not BasicSR options'):
            load_interpolator(ckpt, opt={'network_g': {}})

    def test_checkpoint_of_another_network_is_refused(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        with pytest.raises(ValueError, match=r'net_g_1\.pth does not fit network_g'):
            load_interpolator(ckpt, opt=option_dict(dict(TINY_DENOISE, n_feat=16)))

    def test_unreadable_checkpoint_is_named(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        ckpt.write_bytes(b'not a checkpoint')
        with pytest.raises(ValueError, match=r'net_g_1\.pth: not a readable torch checkpoint'):
            load_interpolator(ckpt)

    def test_mode_and_network_channels_must_agree(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, dict(TINY_DENOISE, in_channels=9), 'hybrid')
        dark, _, bright = pair()
        with pytest.raises(ValueError, match=r'hybrid-mode input of shape \(1, 3, 40, 56\)'):
            load_interpolator(ckpt)(dark, bright, T_DARK, T_BRIGHT, crf='srgb')

    def test_network_must_keep_the_size_and_give_3_channels(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, dict(TINY_DENOISE, out_channels=4))
        dark, _, bright = pair()
        with pytest.raises(ValueError, match='must output 3 channels at scale 1'):
            load_interpolator(ckpt)(dark, bright, T_DARK, T_BRIGHT, crf='srgb')

    def test_mismatched_pair_is_refused(self, tmp_path):
        ckpt, _ = write_experiment(tmp_path, TINY_DENOISE)
        dark, _, bright = pair()
        with pytest.raises(ValueError, match='must have one size'):
            load_interpolator(ckpt)(dark[:-1], bright, T_DARK, T_BRIGHT, crf='srgb')


class TestTiling:
    @settings(max_examples=60, deadline=None)
    @given(height=st.integers(1, 300), width=st.integers(1, 300), tile=st.integers(1, 128),
           pad=st.integers(0, 40))
    def test_boxes_cover_every_pixel_once_and_pads_stay_inside(self, height, width, tile, pad):
        count = np.zeros((height, width), np.int32)
        for box in tile_boxes(height, width, tile):
            top, bottom, left, right = box
            assert bottom - top <= tile and right - left <= tile
            count[top:bottom, left:right] += 1
            outer = padded_box(box, pad, height, width)
            assert outer[0] == max(top - pad, 0) and outer[1] == min(bottom + pad, height)
            assert outer[2] == max(left - pad, 0) and outer[3] == min(right + pad, width)
        assert (count == 1).all()

    def test_no_tile_is_one_box(self):
        assert tile_boxes(7, 9, None) == tile_boxes(7, 9, 0) == [(0, 7, 0, 9)]

    def test_convolutional_net_gives_the_untiled_result(self):
        torch.manual_seed(1)
        interp = Interpolator(build_network(TINY_EDSR).eval())
        dark, _, bright = pair(size=(256, 256))
        whole = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        seen = []

        def progress(boxes, total):
            seen.append(total)
            return boxes
        tiled = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=96, tile_pad=16,
                       progress=progress)
        assert seen == [9]
        assert np.abs(tiled - whole).max() < 1e-5
        # without context the tiles' zero padding shows at the seams
        seams = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=96, tile_pad=0)
        assert np.abs(seams - whole).max() > 1e-3

    def test_global_pooling_net_tiles_within_a_tenth_of_a_db(self):
        """DenoiseNet's channel attention pools each tile, not the image: measured, bounded."""
        torch.manual_seed(2)
        interp = Interpolator(build_network(TINY_DENOISE).eval())
        dark, mid, bright = pair(size=(384, 384), seed=3)
        whole = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        tiled = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=128, tile_pad=16)
        assert psnr(tiled, whole) > 60
        gt = unit(mid)
        assert abs(psnr(tiled, gt) - psnr(whole, gt)) < 0.1

    def test_whole_image_context_reaches_every_tile(self):
        """CurveRefiner's tone curve comes from the whole image, not from each tile."""
        torch.manual_seed(4)
        net = build_network({'type': 'CurveRefiner', 'in_channels': 9}).eval()
        with torch.no_grad():
            for layer in (net.to_curve, net.to_film, net.tail):
                layer.weight.normal_(0, 0.3)
        interp = Interpolator(net, mode='conditioned')
        dark, _, bright = pair(size=(256, 256))
        whole = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        tiled = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=96, tile_pad=16)
        assert np.abs(tiled - whole).max() < 1e-5

        class PerTile(torch.nn.Module):
            """The same network without the context hook: each tile codes itself."""
            def __init__(self):
                super().__init__()
                self.inner = net

            def forward(self, x):
                return self.inner(x)
        per_tile = Interpolator(PerTile(), mode='conditioned')(
            dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=96, tile_pad=16)
        assert np.abs(per_tile - whole).max() > 1e-2

    def test_context_of_a_large_image_comes_from_a_downsampled_copy(self, monkeypatch):
        import expinterp_plugin.inference as inference
        torch.manual_seed(5)
        net = build_network({'type': 'CurveRefiner', 'in_channels': 9}).eval()
        with torch.no_grad():
            net.to_curve.weight.normal_(0, 0.3)
        interp = Interpolator(net, mode='conditioned')
        dark, _, bright = pair(size=(256, 256))
        whole = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb')
        monkeypatch.setattr(inference, 'CONTEXT_SIDE', 128)
        tiled = interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=96, tile_pad=16)
        # 2x2 area averages before the code's own 64 x 64 pooling: the same pooled values
        assert np.abs(tiled - whole).max() < 1e-4

    def test_negative_pad_is_refused(self):
        interp = Interpolator(build_network(TINY_EDSR).eval())
        dark, _, bright = pair()
        with pytest.raises(ValueError, match='tile_pad must be >= 0'):
            interp(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=16, tile_pad=-1)
