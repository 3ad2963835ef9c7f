"""psi loss, angular colour loss and the MINC VGG-16 feature loss."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.losses import build_loss
from expinterp_plugin.archs.minc_vgg_arch import MINCVGG16Features
from expinterp_plugin.losses.color_loss import AngularColorLoss
from expinterp_plugin.losses.minc_loss import MINCPerceptualLoss
from expinterp_plugin.losses.psi_loss import PsiLoss

C = 5 / 255


def psi_reference(z, c=C):
    z = np.asarray(z, np.float64)
    return np.where(np.abs(z) > c, np.abs(z), (z ** 2 + c ** 2) / (2 * c))


def grad_of(loss, pred, target, **kwargs):
    pred = pred.clone().requires_grad_(True)
    value = loss(pred, target, **kwargs)
    value.backward()
    return value.detach(), pred.grad


class TestPsiLoss:

    @settings(max_examples=60, deadline=None)
    @given(arrays(np.float32, (2, 3, 4, 5), elements=st.floats(-0.25, 0.25, width=32)),
           arrays(np.float32, (2, 3, 4, 5), elements=st.floats(0, 1, width=32)))
    def test_elementwise_values(self, diff, target):
        pred = torch.from_numpy(target + diff)
        target_t = torch.from_numpy(target)
        out = PsiLoss(reduction='none')(pred, target_t).numpy()
        z = (pred - target_t).numpy()
        np.testing.assert_allclose(out, psi_reference(z), rtol=1e-5, atol=1e-7)
        assert (out >= C / 2 - 1e-7).all(), 'psi(0) = c/2 is the minimum'

    @settings(max_examples=40, deadline=None)
    @given(st.floats(0.5, 8.0), st.floats(-3, 3))
    def test_piecewise_formula_for_any_threshold(self, c, z):
        out = PsiLoss(reduction='none', c=c)(torch.tensor([z], dtype=torch.float64),
                                            torch.zeros(1, dtype=torch.float64))
        expected = abs(z) if abs(z) > c else (z * z + c * c) / (2 * c)
        assert out.item() == pytest.approx(expected, rel=1e-12)

    @pytest.mark.parametrize('sign', [1.0, -1.0])
    def test_value_and_gradient_continuous_at_c(self, sign):
        loss = PsiLoss(reduction='sum')
        for offset in (-1e-9, 0.0, 1e-9):
            z = torch.tensor([sign * (C + offset)], dtype=torch.float64)
            value, grad = grad_of(loss, z, torch.zeros_like(z))
            assert value.item() == pytest.approx(C, abs=2e-9)
            assert grad.item() == pytest.approx(sign, abs=1e-6)

    def test_gradient_is_z_over_c_inside(self):
        z = torch.tensor([-0.015, -0.002, 0.0, 0.01], dtype=torch.float64)
        _, grad = grad_of(PsiLoss(reduction='sum'), z, torch.zeros_like(z))
        torch.testing.assert_close(grad, z / C)

    def test_reductions_and_weight(self):
        gen = torch.Generator().manual_seed(1)
        pred, target = torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 3, 4, 4, generator=gen)
        elementwise = PsiLoss(reduction='none')(pred, target)
        assert elementwise.shape == pred.shape
        torch.testing.assert_close(PsiLoss()(pred, target), elementwise.mean())
        torch.testing.assert_close(PsiLoss(reduction='sum', loss_weight=0.5)(pred, target),
                                   0.5 * elementwise.sum())
        weight = torch.zeros(2, 1, 4, 4)
        weight[:, :, :2] = 1
        # BasicSR's convention: mean over the weighted region (weight sum x channels)
        torch.testing.assert_close(PsiLoss()(pred, target, weight),
                                   elementwise[:, :, :2].mean())

    def test_finite_gradient_on_zeros(self):
        value, grad = grad_of(PsiLoss(), torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
        assert value.item() == pytest.approx(C / 2)
        assert torch.isfinite(grad).all() and not grad.any()

    def test_bad_options(self):
        with pytest.raises(ValueError, match='reduction'):
            PsiLoss(reduction='avg')
        with pytest.raises(ValueError, match='positive'):
            PsiLoss(c=0)

    def test_built_from_options(self):
        loss = build_loss({'type': 'PsiLoss', 'loss_weight': 2.0, 'c': 0.1})
        assert isinstance(loss, PsiLoss) and loss.c == 0.1 and loss.loss_weight == 2.0


def rgb(*values):
    """(1, 3, 1, len(values)) tensor from RGB triples."""
    return torch.tensor(values, dtype=torch.float32).T.reshape(1, 3, 1, -1)


class TestAngularColorLoss:

    def test_parallel_vectors_give_zero(self):
        pred = rgb((0.2, 0.4, 0.1), (0.5, 0.5, 0.5), (0.9, 0.0, 0.3))
        out = AngularColorLoss(reduction='none')(pred, 2 * pred)
        assert out.shape == (1, 1, 1, 3)
        assert out.max().item() < 1e-3

    def test_orthogonal_vectors_give_right_angle(self):
        out = AngularColorLoss(reduction='none')(rgb((1, 0, 0), (0, 0.5, 0.5)),
                                                 rgb((0, 1, 0), (0.3, 0, 0)))
        torch.testing.assert_close(out, torch.full_like(out, math.pi / 2))

    def test_known_angles(self):
        out = AngularColorLoss(reduction='none')(rgb((1, 0, 0), (1, 1, 1)), rgb((1, 1, 0), (1, 0, 0)))
        expected = torch.tensor([math.pi / 4, math.acos(1 / math.sqrt(3))]).reshape(1, 1, 1, 2)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)

    def test_blind_to_brightness(self):
        gen = torch.Generator().manual_seed(2)
        pred, target = torch.rand(2, 3, 5, 5, generator=gen) + 0.1, torch.rand(2, 3, 5, 5, generator=gen)
        loss = AngularColorLoss()
        torch.testing.assert_close(loss(3 * pred, target), loss(pred, target), atol=1e-5, rtol=1e-5)

    @pytest.mark.parametrize('case', ['zeros', 'identical', 'parallel', 'one_zero'])
    def test_finite_values_and_gradients(self, case):
        target = rgb((0.3, 0.2, 0.1), (0.0, 0.0, 0.0))
        pred = {'zeros': torch.zeros_like(target), 'identical': target.clone(),
                'parallel': target * 0.5, 'one_zero': torch.zeros_like(target)}[case]
        if case == 'zeros':
            target = torch.zeros_like(target)
        value, grad = grad_of(AngularColorLoss(), pred, target)
        assert torch.isfinite(value) and torch.isfinite(grad).all()
        if case != 'one_zero':
            assert value.item() < 1e-3

    def test_reductions_and_weight(self):
        gen = torch.Generator().manual_seed(3)
        pred, target = torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 3, 4, 4, generator=gen)
        angles = AngularColorLoss(reduction='none')(pred, target)
        torch.testing.assert_close(AngularColorLoss()(pred, target), angles.mean())
        torch.testing.assert_close(AngularColorLoss(reduction='sum', loss_weight=0.01)(pred, target),
                                   0.01 * angles.sum())
        weight = torch.zeros(2, 1, 4, 4)
        weight[1] = 1
        torch.testing.assert_close(AngularColorLoss()(pred, target, weight), angles[1].mean())

    def test_rejects_non_rgb(self):
        with pytest.raises(ValueError, match='N, 3, H, W'):
            AngularColorLoss()(torch.rand(1, 4, 2, 2), torch.rand(1, 4, 2, 2))


LAYERS = {'conv1_2': 1.0, 'conv2_1': 0.5}


@pytest.fixture(scope='module')
def minc_weights(tmp_path_factory):
    """A random-weights state dict file in the converter's layout (up to conv2_2)."""
    torch.manual_seed(0)
    state = MINCVGG16Features(layers=('conv2_2',), allow_random=True).state_dict()
    state['fc8.weight'] = torch.zeros(23, 4096)  # extra keys in the file are ignored
    path = tmp_path_factory.mktemp('minc') / 'minc_random.pth'
    torch.save(state, path)
    return path


def caffe_input(rgb01):
    """RGB [0,1] -> BGR 0..255 minus the Caffe mean, written channel by channel."""
    r, g, b = rgb01[:, 0:1] * 255, rgb01[:, 1:2] * 255, rgb01[:, 2:3] * 255
    return torch.cat([b - 104, g - 117, r - 124], dim=1)


class TestMINCPerceptualLoss:

    def test_value_matches_features_of_caffe_input(self, minc_weights):
        gen = torch.Generator().manual_seed(4)
        pred, target = torch.rand(2, 3, 10, 10, generator=gen), torch.rand(2, 3, 10, 10, generator=gen)
        loss = MINCPerceptualLoss(minc_weights, layers=LAYERS)
        net = MINCVGG16Features(minc_weights, layers=tuple(LAYERS))
        fp, ft = net(caffe_input(pred)), net(caffe_input(target))
        expected = sum(w * (fp[k] - ft[k]).square().mean() for k, w in LAYERS.items())
        torch.testing.assert_close(loss(pred, target), expected)
        l1 = MINCPerceptualLoss(minc_weights, layers={'conv1_2': 1.0}, criterion='l1', loss_weight=0.01)
        torch.testing.assert_close(l1(pred, target), 0.01 * (fp['conv1_2'] - ft['conv1_2']).abs().mean())

    def test_zero_for_identical_images(self, minc_weights):
        x = torch.rand(1, 3, 8, 8)
        assert MINCPerceptualLoss(minc_weights, layers=LAYERS)(x, x.clone()).item() == 0.0

    def test_gradients_reach_pred_only_and_are_finite_on_zeros(self, minc_weights):
        pred = torch.zeros(1, 3, 8, 8, requires_grad=True)
        target = torch.zeros(1, 3, 8, 8, requires_grad=True)
        value = MINCPerceptualLoss(minc_weights, layers=LAYERS)(pred, target + 0.1)
        value.backward()
        assert value.item() > 0
        assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
        assert target.grad is None

    def test_reductions(self, minc_weights):
        gen = torch.Generator().manual_seed(5)
        pred, target = torch.rand(3, 3, 8, 8, generator=gen), torch.rand(3, 3, 8, 8, generator=gen)
        per_image = MINCPerceptualLoss(minc_weights, layers=LAYERS, reduction='none')(pred, target)
        assert per_image.shape == (3,)
        torch.testing.assert_close(per_image.mean(), MINCPerceptualLoss(minc_weights, layers=LAYERS)(pred, target))
        torch.testing.assert_close(
            per_image[1], MINCPerceptualLoss(minc_weights, layers=LAYERS)(pred[1:2], target[1:2]))
        one_layer_sum = MINCPerceptualLoss(minc_weights, layers={'conv1_2': 2.0}, reduction='sum')
        mean = MINCPerceptualLoss(minc_weights, layers={'conv1_2': 2.0})
        torch.testing.assert_close(one_layer_sum(pred, target), mean(pred, target) * 3 * 64 * 8 * 8)

    def test_default_layer_is_conv5_3(self, tmp_path):
        torch.save(MINCVGG16Features(layers=('conv5_3',), allow_random=True).state_dict(), tmp_path / 'w.pth')
        loss = build_loss({'type': 'MINCPerceptualLoss', 'weights_path': str(tmp_path / 'w.pth')})
        assert loss.layer_weights == {'conv5_3': 1.0}
        assert list(dict(loss.vgg.named_children()))[-1] == 'conv5_3'

    def test_missing_weights_point_to_the_converter(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='minc_vgg16.pth.*expinterp convert-minc'):
            MINCPerceptualLoss(tmp_path / 'minc_vgg16.pth')
        with pytest.raises(FileNotFoundError, match='no weights_path.*convert-minc'):
            MINCPerceptualLoss(None)

    def test_bad_options(self, minc_weights):
        with pytest.raises(ValueError, match='criterion'):
            MINCPerceptualLoss(minc_weights, layers=LAYERS, criterion='fro')
        with pytest.raises(ValueError, match='reduction'):
            MINCPerceptualLoss(minc_weights, layers=LAYERS, reduction='max')
