"""HybridExposureModel: output = y0 + net(lq), losses, stock archs, validation with y0 metrics."""
import copy
import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from torch import nn

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.metrics import calculate_psnr
from basicsr.models import build_model
from basicsr.utils import tensor2img
from basicsr.utils.registry import LOSS_REGISTRY
from expinterp_plugin.losses.color_loss import AngularColorLoss
from expinterp_plugin.losses.psi_loss import PsiLoss
from expinterp_plugin.models.hybrid_model import residual_from_options, sum_loss_terms
from expinterp_plugin.modes import lq_channels, mode_from_options
from test_dataset import write_triplets

REPO = Path(__file__).resolve().parents[1]
EDSR = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
        'upscale': 1}
RRDB9 = {'type': 'RRDBNet', 'num_in_ch': 9, 'num_out_ch': 3, 'scale': 1, 'num_feat': 8,
         'num_block': 1, 'num_grow_ch': 4}
TINY_DENOISE = {'type': 'DenoiseNet', 'in_channels': 3, 'out_channels': 3, 'n_feat': 8,
                'num_rrg': 1, 'num_dab': 1, 'reduction': 4}
METRICS = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
           'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False}}


def model_opt(tmp_path, network, mode='hybrid', is_train=True, zero_init_residual=False,
              **train):
    train_opt = {'optim_g': {'type': 'Adam', 'lr': 2e-3}, 'total_iter': 100,
                 'scheduler': {'type': 'MultiStepLR', 'milestones': [1000], 'gamma': 0.5},
                 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}}
    train_opt.update(train)
    return {
        'name': 'unit', 'model_type': 'HybridExposureModel', 'scale': 1, 'num_gpu': 0,
        'zero_init_residual': zero_init_residual,
        'is_train': is_train, 'dist': False, 'rank': 0, 'world_size': 1,
        'datasets': {'val': {'name': 'tiny_val', 'mode': mode}},
        'network_g': dict(network), 'train': train_opt,
        'val': {'metrics': copy.deepcopy(METRICS), 'save_img': True},
        'path': {'pretrain_network_g': None, 'visualization': str(tmp_path / 'vis')},
    }


def triplet_dataset(root, mode, **opt):
    full = {'name': 'tiny_val', 'type': 'ExposureTripletDataset', 'dataroot': str(root),
            'io_backend': {'type': 'disk'}, 'phase': 'val', 'mode': mode, 'crf': 'srgb'}
    full.update(opt)
    return build_dataset(full)


def batch_of(dataset, indices=(0, 1)):
    return torch.utils.data.default_collate([dataset[i] for i in indices])


class Zero(nn.Module):
    """A 'network' predicting a zero residual: the hybrid model's output must be y0."""

    def forward(self, x):
        return torch.zeros_like(x[:, :3])


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp('triplets')
    write_triplets(root, names=('a', 'b'), size=(32, 32))
    return root


class TestOutputComposition:

    @pytest.mark.parametrize('network,mode', [(EDSR, 'hybrid'), (RRDB9, 'conditioned')])
    def test_output_is_y0_plus_network_of_lq(self, tmp_path, scenes, network, mode):
        model = build_model(model_opt(tmp_path, network, mode))
        data = batch_of(triplet_dataset(scenes, mode))
        model.feed_data(data)
        model.test()
        with torch.no_grad():
            expected = data['lq'][:, :3] + model.net_g(data['lq'])
        assert torch.equal(model.output, expected)
        assert not torch.equal(model.output, data['lq'][:, :3])

    @pytest.mark.parametrize('mode', ['hybrid', 'conditioned'])
    def test_zero_residual_gives_y0_exactly(self, tmp_path, scenes, mode):
        network = EDSR if mode == 'hybrid' else RRDB9
        model = build_model(model_opt(tmp_path, network, mode))
        model.net_g = Zero()
        data = batch_of(triplet_dataset(scenes, mode))
        model.feed_data(data)
        model.test()
        assert torch.equal(model.output, data['lq'][:, :3])

    def test_direct_mode_output_is_network_alone(self, tmp_path, scenes):
        direct = {'type': 'TwoBranchNet', 'num_feat': 8, 'num_branch_blocks': 1,
                  'num_fusion_blocks': 1}
        model = build_model(model_opt(tmp_path, direct, 'direct'))
        assert model.residual is False
        data = batch_of(triplet_dataset(scenes, 'direct'))
        model.feed_data(data)
        model.test()
        with torch.no_grad():
            assert torch.equal(model.output, model.net_g(data['lq']))
        assert torch.equal(model.y0, data['y0'])

    def test_training_step_uses_the_same_composition(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, EDSR))
        data = batch_of(triplet_dataset(scenes, 'hybrid'))
        before = copy.deepcopy(model.net_g)
        model.feed_data(data)
        model.optimize_parameters(1)
        with torch.no_grad():
            expected = data['lq'] + before(data['lq'])
        assert torch.equal(model.output.detach(), expected)

    def test_ema_network_is_used_for_testing(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, EDSR, ema_decay=0.5))
        model.net_g_ema = Zero()
        data = batch_of(triplet_dataset(scenes, 'hybrid'))
        model.feed_data(data)
        model.test()
        assert torch.equal(model.output, data['lq'])

    def test_wrong_residual_shape_is_explained(self, tmp_path, scenes):
        network = dict(EDSR, upscale=2)
        model = build_model(model_opt(tmp_path, network))
        model.feed_data(batch_of(triplet_dataset(scenes, 'hybrid')))
        with pytest.raises(ValueError, match=r'EDSR.*scale 1'):
            model.test()

    def test_zero_init_residual_starts_at_y0_and_then_learns(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, TINY_DENOISE, zero_init_residual=True))
        data = batch_of(triplet_dataset(scenes, 'hybrid'))
        model.feed_data(data)
        model.test()
        assert torch.equal(model.output, data['lq'])
        model.optimize_parameters(1)
        model.test()
        assert not torch.equal(model.output, data['lq'])

    def test_zero_init_residual_refuses_an_arch_not_ending_in_a_conv(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, EDSR, zero_init_residual=True))
        model.feed_data(batch_of(triplet_dataset(scenes, 'hybrid')))
        with pytest.raises(ValueError, match='EDSR does not end with a convolution'):
            model.optimize_parameters(1)

    def test_zero_init_residual_leaves_pretrained_weights_alone(self, tmp_path, scenes):
        trained = build_model(model_opt(tmp_path, TINY_DENOISE))
        torch.save({'params': trained.net_g.state_dict()}, tmp_path / 'net.pth')
        opt = model_opt(tmp_path, TINY_DENOISE, zero_init_residual=True)
        opt['path']['pretrain_network_g'] = str(tmp_path / 'net.pth')
        model = build_model(opt)
        for key, value in trained.net_g.state_dict().items():
            assert torch.equal(model.net_g.state_dict()[key], value)

    def test_residual_option_and_inference_from_dataset_modes(self):
        def opt(*modes, residual=None):
            datasets = {f'd{i}': {'mode': m} for i, m in enumerate(modes)}
            return {'datasets': datasets, 'residual': residual}
        assert residual_from_options(opt('hybrid', 'hybrid')) is True
        assert residual_from_options(opt('conditioned')) is True
        assert residual_from_options(opt('direct', 'direct')) is False
        assert residual_from_options(opt()) is True
        assert residual_from_options(opt('direct', residual=True)) is True
        assert residual_from_options(opt('hybrid', residual=False)) is False
        with pytest.raises(ValueError, match='mix modes'):
            residual_from_options(opt('direct', 'hybrid'))


class TestLosses:

    def test_configured_losses_are_summed(self, tmp_path, scenes):
        model = build_model(model_opt(
            tmp_path, EDSR, pixel_opt={'type': 'PsiLoss', 'loss_weight': 1.0},
            color_opt={'type': 'AngularColorLoss', 'loss_weight': 0.01},
            perceptual_opt={'type': 'MSELoss', 'loss_weight': 0.5}))
        output, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
        losses = model.compute_losses(output, gt)
        assert list(losses) == ['l_pix', 'l_color', 'l_percep', 'l_total']
        assert losses['l_pix'] == PsiLoss()(output, gt)
        assert torch.allclose(losses['l_color'], 0.01 * AngularColorLoss()(output, gt))
        assert torch.allclose(losses['l_percep'], 0.5 * ((output - gt) ** 2).mean())
        assert torch.allclose(losses['l_total'],
                              losses['l_pix'] + losses['l_color'] + losses['l_percep'])

    def test_perceptual_loss_returning_a_pair_is_summed(self):
        a, b = torch.tensor(1.5), torch.tensor(0.25)
        assert sum_loss_terms((a, None)) == a
        assert sum_loss_terms((a, b)) == a + b
        assert sum_loss_terms(a) is a

    def test_log_reports_each_term_and_the_total(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, EDSR,
                                      color_opt={'type': 'AngularColorLoss', 'loss_weight': 0.01}))
        model.feed_data(batch_of(triplet_dataset(scenes, 'hybrid')))
        model.optimize_parameters(1)
        log = model.get_current_log()
        assert set(log) == {'l_pix', 'l_color', 'l_total'}
        assert log['l_total'] == pytest.approx(log['l_pix'] + log['l_color'], rel=1e-6)

    @pytest.mark.parametrize('network,mode', [(TINY_DENOISE, 'hybrid'), (EDSR, 'hybrid'),
                                              (RRDB9, 'conditioned')])
    def test_training_reduces_the_loss(self, tmp_path, scenes, network, mode):
        torch.manual_seed(0)
        model = build_model(model_opt(tmp_path, network, mode,
                                      pixel_opt={'type': 'MSELoss', 'loss_weight': 1.0}))
        dataset = triplet_dataset(scenes, mode, phase='train', gt_size=16, use_hflip=True,
                                  use_rot=True)
        held_out = batch_of(triplet_dataset(scenes, mode))

        def held_out_loss():
            model.feed_data(held_out)
            model.test()
            return float(((model.output - held_out['gt']) ** 2).mean())
        start = held_out_loss()
        for step in range(40):
            model.feed_data(batch_of(dataset, (0, 1, 0, 1)))
            model.optimize_parameters(step)
        assert held_out_loss() < 0.8 * start


class TestValidation:

    @pytest.fixture
    def captured_log(self):
        records = []
        handler = logging.Handler()
        handler.emit = lambda record: records.append(record.getMessage())
        logger = logging.getLogger('basicsr')
        level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        yield records
        logger.removeHandler(handler)
        logger.setLevel(level)

    class FakeTensorBoard:

        def __init__(self):
            self.scalars = {}

        def add_scalar(self, tag, value, step):
            self.scalars[tag] = (value, step)

    def test_metrics_of_output_and_y0_logged_and_images_saved(self, tmp_path, scenes,
                                                              captured_log):
        model = build_model(model_opt(tmp_path, EDSR))
        dataset = triplet_dataset(scenes, 'hybrid')
        loader = torch.utils.data.DataLoader(dataset, batch_size=1)
        tb = self.FakeTensorBoard()
        model.validation(loader, 7, tb, save_img=True)

        psnr_y0, psnr_out = [], []
        for i in range(len(dataset)):
            sample = batch_of(dataset, (i,))
            model.feed_data(sample)
            model.test()
            gt = tensor2img([sample['gt']])
            psnr_y0.append(calculate_psnr(tensor2img([sample['lq']]), gt, 0))
            psnr_out.append(calculate_psnr(tensor2img([model.output]), gt, 0))
        results = model.metric_results
        assert list(results) == ['psnr', 'ssim', 'psnr_y0', 'ssim_y0']
        assert results['psnr_y0'] == pytest.approx(np.mean(psnr_y0))
        assert results['psnr'] == pytest.approx(np.mean(psnr_out))
        assert results['psnr'] != pytest.approx(results['psnr_y0'])
        assert tb.scalars['metrics/tiny_val/psnr_y0'] == (results['psnr_y0'], 7)
        assert tb.scalars['metrics/tiny_val/ssim'] == (results['ssim'], 7)
        text = '\n'.join(captured_log)
        assert f'# psnr_y0: {results["psnr_y0"]:.4f}' in text
        assert f'# psnr: {results["psnr"]:.4f}' in text

        comparison = cv2.imread(str(tmp_path / 'vis' / 'a' / 'a_7_y0_out_gt.png'))
        output = cv2.imread(str(tmp_path / 'vis' / 'a' / 'a_7.png'))
        assert comparison.shape == (32, 96, 3) and output.shape == (32, 32, 3)
        np.testing.assert_array_equal(comparison[:, 32:64], output)
        np.testing.assert_array_equal(comparison[:, :32], tensor2img([dataset[0]['lq']]))
        np.testing.assert_array_equal(comparison[:, 64:], tensor2img([dataset[0]['gt']]))

    def test_zero_residual_scores_exactly_y0(self, tmp_path, scenes):
        model = build_model(model_opt(tmp_path, EDSR))
        model.net_g = Zero()
        loader = torch.utils.data.DataLoader(triplet_dataset(scenes, 'conditioned'))
        model.validation(loader, 1, None, save_img=False)
        results = model.metric_results
        assert results['psnr'] == results['psnr_y0'] and results['ssim'] == results['ssim_y0']

    def test_direct_mode_reports_y0_from_the_dataset(self, tmp_path, scenes):
        direct = {'type': 'TwoBranchNet', 'num_feat': 8, 'num_branch_blocks': 1,
                  'num_fusion_blocks': 1}
        model = build_model(model_opt(tmp_path, direct, 'direct'))
        dataset = triplet_dataset(scenes, 'direct')
        model.validation(torch.utils.data.DataLoader(dataset), 1, None, save_img=False)
        gt = tensor2img([dataset[0]['gt']])
        expected = np.mean([calculate_psnr(tensor2img([dataset[i]['y0']]),
                                           tensor2img([dataset[i]['gt']]), 0) for i in (0, 1)])
        assert gt.shape == (32, 32, 3)
        assert model.metric_results['psnr_y0'] == pytest.approx(expected)


OPTION_FILES = ['demo.yml', 'hybrid.yml', 'conditioned.yml']


class TestOptionFiles:

    @pytest.mark.parametrize('name', OPTION_FILES)
    def test_network_channels_match_the_dataset_mode(self, name):
        opt = yaml.safe_load((REPO / 'options' / name).read_text())
        assert opt['model_type'] == 'HybridExposureModel'
        modes = {d['mode'] for d in opt['datasets'].values()}
        assert modes == {opt['mode']} == {mode_from_options(opt)}
        net = build_network(copy.deepcopy(opt['network_g']))
        x = torch.rand(1, lq_channels(opt['mode']), 16, 16)
        with torch.no_grad():
            assert net(x).shape == (1, 3, 16, 16)
        for key in ('pixel_opt', 'color_opt', 'perceptual_opt'):
            if opt['train'].get(key):
                assert opt['train'][key]['type'] in LOSS_REGISTRY

    def test_hybrid_is_the_papers_configuration(self):
        opt = yaml.safe_load((REPO / 'options' / 'hybrid.yml').read_text())
        train = opt['train']
        assert opt['network_g']['type'] == 'DenoiseNet'
        assert sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters()) \
            == 2834947
        assert (train['pixel_opt']['type'], train['color_opt']['type'],
                train['perceptual_opt']['type']) == \
            ('PsiLoss', 'AngularColorLoss', 'MINCPerceptualLoss')
        assert train['color_opt']['loss_weight'] == train['perceptual_opt']['loss_weight'] == 0.01
        assert opt['datasets']['train']['gt_size'] == 128
        assert train['optim_g']['type'] == 'Adam' and float(train['optim_g']['lr']) == 1e-4

    def test_conditioned_feeds_nine_channels(self):
        opt = yaml.safe_load((REPO / 'options' / 'conditioned.yml').read_text())
        assert opt['network_g']['in_channels'] == 9
        assert all(d['mode'] == 'conditioned' for d in opt['datasets'].values())


def run_pipeline(kind, option_file, cwd):
    """basicsr's train_pipeline / test_pipeline in a fresh process (it sets up its log file only
    once per process) with the plugin imported first, rooted at ``cwd``."""
    code = (f'import os, expinterp_plugin; from basicsr.{kind} import {kind}_pipeline; '
            f'{kind}_pipeline(os.getcwd())')
    done = subprocess.run([sys.executable, '-c', code, '-opt', option_file], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_train_then_test_pipelines_end_to_end(tmp_path):
    """basicsr's own train_pipeline and test_pipeline with the plugin's dataset and model."""
    write_triplets(tmp_path / 'data' / 'train', names=('a', 'b', 'c'), size=(48, 48))
    write_triplets(tmp_path / 'data' / 'val', names=('v',), size=(48, 48))
    opt = yaml.safe_load((REPO / 'options' / 'demo.yml').read_text())
    opt['name'] = 'e2e'
    opt['num_gpu'] = 0
    opt['datasets']['train'].update(dataroot='data/train', gt_size=32, batch_size_per_gpu=2,
                                    num_worker_per_gpu=0, dataset_enlarge_ratio=4)
    opt['datasets']['val'].update(dataroot='data/val')
    opt['network_g'].update(n_feat=8, num_rrg=1, num_dab=1, reduction=4)
    opt['train'].update(total_iter=6, scheduler={'type': 'MultiStepLR', 'milestones': [100],
                                                 'gamma': 0.5})
    opt['val'].update(val_freq=6, save_img=True)
    opt['logger'].update(print_freq=3, save_checkpoint_freq=6)
    (tmp_path / 'train.yml').write_text(yaml.safe_dump(opt))
    run_pipeline('train', 'train.yml', tmp_path)

    log = next((tmp_path / 'experiments' / 'e2e').glob('train_e2e_*.log')).read_text()
    assert '# psnr_y0:' in log and '# psnr:' in log and 'l_total' in log
    assert (tmp_path / 'experiments' / 'e2e' / 'visualization' / 'v' / 'v_6_y0_out_gt.png'
            ).is_file()
    assert list((tmp_path / 'tb_logger' / 'e2e').glob('events.out.tfevents.*'))

    test = yaml.safe_load((REPO / 'options' / 'test_demo.yml').read_text())
    test['num_gpu'] = 0
    test['datasets']['test_1'].update(dataroot='data/val')
    test['path']['pretrain_network_g'] = 'experiments/e2e/models/net_g_latest.pth'
    test['network_g'] = opt['network_g']
    (tmp_path / 'test.yml').write_text(yaml.safe_dump(test))
    run_pipeline('test', 'test.yml', tmp_path)
    results = tmp_path / 'results' / test['name']
    log = next(results.glob('test_*.log')).read_text()
    assert '# psnr_y0:' in log
    saved = cv2.imread(str(results / 'visualization' / 'demo_val' / f'v_{test["name"]}.png'))
    assert saved.shape == (48, 48, 3)
