"""DenoiseNet (CycleISP layout), the two-branch baseline and the MINC VGG-16 feature net."""
import pytest
import torch
import torchvision

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.utils.registry import ARCH_REGISTRY
from expinterp_plugin.archs.denoisenet_arch import (ChannelAttention, DenoiseNet, SpatialAttention,
                                                    load_cycleisp_checkpoint)
from expinterp_plugin.archs.minc_vgg_arch import MINCVGG16Features, VGG16_CONV_NAMES
from expinterp_plugin.archs.twobranch_arch import TwoBranchNet

CYCLEISP_PARAMS = 2_834_947
SMALL = dict(n_feat=16, num_rrg=2, num_dab=2, reduction=4)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def cycleisp_layout(in_ch=3, out_ch=3, feat=64, rrg=4, dab=8, red=16):
    """({key: shape}, shared-PReLU keys) of CycleISP's RGB denoiser checkpoints, written out from
    their description (independent of DenoiseNet's code): the one PReLU sits in every DAB and
    after the body, and ``state_dict()`` lists it at each place."""
    prelu_keys = [f'body.{r}.body.{d}.body.1.weight' for r in range(rrg) for d in range(dab)]
    prelu_keys.append(f'body.{rrg + 1}.weight')
    layout = {'head.0.weight': (feat, in_ch, 3, 3), 'head.0.bias': (feat,)}
    for r in range(rrg):
        for d in range(dab):
            p = f'body.{r}.body.{d}.'
            layout.update({
                p + 'body.0.weight': (feat, feat, 3, 3), p + 'body.0.bias': (feat,),
                p + 'body.1.weight': (feat,),
                p + 'body.2.weight': (feat, feat, 3, 3), p + 'body.2.bias': (feat,),
                p + 'SA.spatial.conv.weight': (1, 2, 3, 3),
                p + 'CA.conv_du.0.weight': (feat // red, feat, 1, 1), p + 'CA.conv_du.0.bias': (feat // red,),
                p + 'CA.conv_du.2.weight': (feat, feat // red, 1, 1), p + 'CA.conv_du.2.bias': (feat,),
                p + 'conv1x1.weight': (feat, 2 * feat, 1, 1), p + 'conv1x1.bias': (feat,),
            })
        layout[f'body.{r}.body.{dab}.weight'] = (feat, feat, 3, 3)
        layout[f'body.{r}.body.{dab}.bias'] = (feat,)
    layout.update({f'body.{rrg}.weight': (feat, feat, 3, 3), f'body.{rrg}.bias': (feat,),
                   f'body.{rrg + 1}.weight': (feat,),
                   'tail.0.weight': (out_ch, feat, 3, 3), 'tail.0.bias': (out_ch,)})
    return layout, prelu_keys


def synthetic_checkpoint(layout, prelu_keys, only=None, seed=0):
    """Random tensors in ``layout``; the shared PReLU weight under all its keys or ``only`` one."""
    gen = torch.Generator().manual_seed(seed)
    prelu = torch.rand(layout[prelu_keys[0]], generator=gen)
    state = {key: torch.randn(shape, generator=gen) * 0.05
             for key, shape in layout.items() if key not in prelu_keys}
    for key in prelu_keys if only is None else [only]:
        state[key] = prelu.clone()
    return state, prelu


class TestDenoiseNet:

    def test_default_parameter_count_matches_cycleisp(self):
        assert n_params(DenoiseNet()) == CYCLEISP_PARAMS

    def test_parameter_count_of_variants(self):
        # 32 DABs + the body end each get their own PReLU(64): 32 more copies of 64 weights
        assert n_params(DenoiseNet(shared_prelu=False)) == CYCLEISP_PARAMS + 32 * 64
        # conditioned mode: the head conv sees 9 channels instead of 3
        assert n_params(DenoiseNet(in_channels=9)) == CYCLEISP_PARAMS + 6 * 64 * 9

    def test_state_dict_layout_is_cycleisps(self):
        net = DenoiseNet()
        expected, prelu_keys = cycleisp_layout()
        assert len(expected) == 399 and len(prelu_keys) == 33
        assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected

    def test_prelu_is_one_module_shared_everywhere(self):
        net = DenoiseNet(**SMALL)
        act = net.body[-1]
        assert isinstance(act, torch.nn.PReLU)
        assert all(block.body[1] is act for group in net.body[:2] for block in group.body[:2])

    def test_default_net_tiny_forward(self):
        net = DenoiseNet(global_skip=True).eval()
        x = torch.rand(1, 3, 12, 10)
        with torch.no_grad():
            out = net(x)
            residual = net.tail(net.body(net.head(x)))
        assert out.shape == (1, 3, 12, 10)
        assert torch.equal(out, x + residual)
        assert residual.abs().max() > 0

    def test_global_skip_adds_exactly_the_input(self):
        on = DenoiseNet(global_skip=True, **SMALL)
        off = DenoiseNet(global_skip=False, **SMALL)
        off.load_state_dict(on.state_dict())
        x = torch.rand(2, 3, 9, 11)
        with torch.no_grad():
            assert torch.equal(on(x), x + off(x))

    def test_conditioned_mode_shapes(self):
        net = DenoiseNet(in_channels=9, **SMALL)
        assert net(torch.rand(2, 9, 8, 8)).shape == (2, 3, 8, 8)

    def test_global_skip_needs_matching_channels(self):
        with pytest.raises(ValueError, match='in_channels == out_channels'):
            DenoiseNet(in_channels=9, global_skip=True)

    def test_registered(self):
        assert ARCH_REGISTRY.get('DenoiseNet') is DenoiseNet

    def test_dab_is_identity_when_its_output_conv_is_zero(self):
        net = DenoiseNet(**SMALL)
        dab = net.body[0].body[0]
        torch.nn.init.zeros_(dab.conv1x1.weight)
        torch.nn.init.zeros_(dab.conv1x1.bias)
        x = torch.randn(1, 16, 6, 6)
        assert torch.equal(dab(x), x)


class TestAttention:

    def test_spatial_attention_pools_max_then_mean(self):
        sa = SpatialAttention()
        x = torch.randn(1, 5, 4, 4)
        with torch.no_grad():
            sa.spatial.conv.weight.zero_()
            sa.spatial.conv.weight[0, 0, 1, 1] = 1.0  # centre tap of channel 0
            torch.testing.assert_close(sa(x), x * torch.sigmoid(x.max(dim=1, keepdim=True).values))
            sa.spatial.conv.weight.zero_()
            sa.spatial.conv.weight[0, 1, 1, 1] = 1.0  # centre tap of channel 1
            torch.testing.assert_close(sa(x), x * torch.sigmoid(x.mean(dim=1, keepdim=True)))

    def test_channel_attention_formula(self):
        ca = ChannelAttention(8, reduction=4)
        x = torch.randn(2, 8, 5, 3)
        w1, b1 = ca.conv_du[0].weight[:, :, 0, 0], ca.conv_du[0].bias
        w2, b2 = ca.conv_du[2].weight[:, :, 0, 0], ca.conv_du[2].bias
        pooled = x.reshape(2, 8, -1).sum(-1) / 15
        gate = torch.sigmoid(torch.relu(pooled @ w1.T + b1) @ w2.T + b2)
        torch.testing.assert_close(ca(x), x * gate[:, :, None, None])


class TestCycleISPCheckpoint:

    def test_module_prefixed_checkpoint_loads_strictly(self, tmp_path):
        state, prelu = synthetic_checkpoint(*cycleisp_layout(feat=16, rrg=2, dab=2, red=4))
        path = tmp_path / 'denoising_rgb.pth'
        torch.save({'epoch': 7, 'state_dict': {f'module.{k}': v for k, v in state.items()}}, path)
        net = load_cycleisp_checkpoint(DenoiseNet(global_skip=True, **SMALL), path)
        loaded = net.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
        torch.testing.assert_close(net.body[-1].weight.detach(), prelu, rtol=0, atol=0)

    @pytest.mark.parametrize('only', ['body.0.body.0.body.1.weight', 'body.3.weight'])
    def test_shared_prelu_stored_once_fills_every_alias(self, tmp_path, only):
        layout, prelu_keys = cycleisp_layout(feat=16, rrg=2, dab=2, red=4)
        state, prelu = synthetic_checkpoint(layout, prelu_keys, only=only)
        assert len(state) == len(layout) - len(prelu_keys) + 1
        path = tmp_path / 'dedup.pth'
        torch.save(state, path)
        net = load_cycleisp_checkpoint(DenoiseNet(**SMALL), path)
        assert torch.equal(net.body[0].body[1].body[1].weight.detach(), prelu)

    def test_disagreeing_prelu_copies_are_rejected(self, tmp_path):
        state, _ = synthetic_checkpoint(*cycleisp_layout(feat=16, rrg=2, dab=2, red=4))
        state['body.3.weight'] = state['body.3.weight'] + 1
        path = tmp_path / 'bad.pth'
        torch.save({'state_dict': state}, path)
        with pytest.raises(ValueError, match='bad.pth.*differ'):
            load_cycleisp_checkpoint(DenoiseNet(**SMALL), path)

    def test_wrong_configuration_names_the_file(self, tmp_path):
        state, _ = synthetic_checkpoint(*cycleisp_layout(feat=16, rrg=2, dab=2, red=4))
        path = tmp_path / 'other.pth'
        torch.save({'state_dict': state}, path)
        with pytest.raises(ValueError, match='other.pth'):
            load_cycleisp_checkpoint(DenoiseNet(n_feat=16, num_rrg=3, num_dab=2, reduction=4), path)

    def test_missing_file_is_named(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='nowhere.pth'):
            load_cycleisp_checkpoint(DenoiseNet(**SMALL), tmp_path / 'nowhere.pth')


class TestTwoBranchNet:

    def test_default_parameter_count_near_denoisenet(self):
        count = n_params(TwoBranchNet())
        assert count == 2_811_779
        assert abs(count - CYCLEISP_PARAMS) / CYCLEISP_PARAMS < 0.10

    def test_each_half_goes_through_its_own_branch(self):
        net = TwoBranchNet(num_feat=8, num_branch_blocks=1, num_fusion_blocks=1).eval()
        x = torch.rand(2, 6, 10, 10)
        with torch.no_grad():
            out = net(x)
            assert out.shape == (2, 3, 10, 10)
            bright_features = net.bright_branch(x[:, :3])
            changed_dark = x.clone()
            changed_dark[:, 3:] += 0.5
            # the bright branch never sees the dark half, but the fused output does
            assert torch.equal(net.bright_branch(changed_dark[:, :3]), bright_features)
            assert not torch.allclose(net(changed_dark), out)
            changed_bright = x.clone()
            changed_bright[:, :3] += 0.5
            assert not torch.allclose(net(changed_bright), out)

    def test_rejects_wrong_channel_count(self):
        with pytest.raises(ValueError, match='6 channels'):
            TwoBranchNet(num_feat=8, num_branch_blocks=1, num_fusion_blocks=1)(torch.rand(1, 3, 4, 4))


class TestMINCVGG16Features:

    def test_positions_match_torchvision_vgg16(self):
        net = MINCVGG16Features(layers=('conv5_3',), allow_random=True)
        names = [name for name, _ in net.named_children()]
        assert names.index('conv5_3') == 28 and len(names) == 29
        assert [names.index(n) for n in VGG16_CONV_NAMES] == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]

    def test_builds_only_up_to_the_deepest_requested_layer(self):
        net = MINCVGG16Features(layers=('conv2_1', 'conv1_1'), allow_random=True)
        assert [name for name, _ in net.named_children()][-1] == 'conv2_1'
        out = net(torch.randn(1, 3, 9, 9))
        assert set(out) == {'conv1_1', 'conv2_1'}
        # Caffe pools with ceil mode: 9x9 -> 5x5 (floor mode would give 4x4)
        assert out['conv1_1'].shape == (1, 64, 9, 9) and out['conv2_1'].shape == (1, 128, 5, 5)
        assert (out['conv1_1'] < 0).any(), 'features are taken before the ReLU'

    def test_matches_torchvision_features_with_ceil_pooling(self, tmp_path):
        net = MINCVGG16Features(layers=('conv3_3',), allow_random=True)
        path = tmp_path / 'w.pth'
        torch.save(net.state_dict(), path)
        loaded = MINCVGG16Features(path, layers=('conv3_3',))
        reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs['D'])[:15]
        convs = [m for m in reference if isinstance(m, torch.nn.Conv2d)]
        for module in reference:
            if isinstance(module, torch.nn.MaxPool2d):
                module.ceil_mode = True
        with torch.no_grad():
            for conv, name in zip(convs, VGG16_CONV_NAMES):
                conv.weight.copy_(getattr(net, name).weight)
                conv.bias.copy_(getattr(net, name).bias)
            x = torch.randn(1, 3, 13, 11) * 50
            torch.testing.assert_close(loaded(x)['conv3_3'], reference(x))

    def test_frozen_and_always_eval(self):
        net = MINCVGG16Features(layers=('conv1_2',), allow_random=True)
        net.train()
        assert not net.training
        assert not any(p.requires_grad for p in net.parameters())

    def test_needs_weights_unless_random_is_allowed(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='convert-minc'):
            MINCVGG16Features(layers=('conv1_1',))
        with pytest.raises(FileNotFoundError, match='absent.pth.*convert-minc'):
            MINCVGG16Features(tmp_path / 'absent.pth', layers=('conv1_1',))

    def test_wrong_shapes_in_weights_file_are_named(self, tmp_path):
        state = MINCVGG16Features(layers=('conv1_2',), allow_random=True).state_dict()
        state['conv1_2.weight'] = torch.zeros(32, 64, 3, 3)
        path = tmp_path / 'bad.pth'
        torch.save(state, path)
        with pytest.raises(ValueError, match='bad.pth: conv1_2.weight has shape'):
            MINCVGG16Features(path, layers=('conv1_2',))

    def test_unknown_layer(self):
        with pytest.raises(ValueError, match='conv5_4'):
            MINCVGG16Features(layers=('conv5_4',), allow_random=True)
