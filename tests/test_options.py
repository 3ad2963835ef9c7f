"""Every option file of the experiments builds, and the paper's two configurations train.

The full-size files are checked for what they promise (networks, parameter budgets, loss
terms); the slow tests train hybrid.yml (all three losses, MINC weights random but loaded from a
file as a user's converted ones would be) and baseline.yml for two iterations, shrunk with
--force_yml to a tiny network and tiny synthetic data.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from expinterp_plugin.exposure.synth import write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
OPTION_FILES = sorted((ROOT / 'options').rglob('*.yml'))
PAPER_LOSS_SETS = {
    'hybrid.yml': {'pixel_opt', 'color_opt', 'perceptual_opt'},
    'baseline.yml': {'pixel_opt', 'color_opt', 'perceptual_opt'},
    'ablation/l1.yml': {'pixel_opt'},
    'ablation/l2.yml': {'pixel_opt'},
    'ablation/psi.yml': {'pixel_opt'},
    'ablation/psi_color.yml': {'pixel_opt', 'color_opt'},
    'ablation/psi_feature.yml': {'pixel_opt', 'perceptual_opt'},
}
PIXEL_LOSS = {'ablation/l1.yml': 'L1Loss', 'ablation/l2.yml': 'MSELoss', 'ablation/psi.yml': 'PsiLoss'}


def load(path):
    return yaml.safe_load(Path(path).read_text())


def parameter_count(opt):
    from basicsr.archs import build_network
    return sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters())


@pytest.mark.parametrize('path', OPTION_FILES, ids=lambda p: str(p.relative_to(ROOT / 'options')))
def test_every_option_file_builds_its_network_and_losses(path):
    from basicsr.losses import build_loss
    opt = load(path)
    assert opt['model_type'] == 'HybridExposureModel'
    assert parameter_count(opt) > 0
    for key in ('pixel_opt', 'color_opt'):
        if key in opt.get('train', {}):
            build_loss(dict(opt['train'][key]))


@pytest.mark.parametrize('name,losses', sorted(PAPER_LOSS_SETS.items()))
def test_experiment_files_use_the_losses_they_reproduce(name, losses):
    train = load(ROOT / 'options' / name)['train']
    assert {k for k in train if k.endswith('_opt') and k != 'optim_g'} == losses
    if 'color_opt' in losses:
        assert train['color_opt']['type'] == 'AngularColorLoss'
        assert train['color_opt']['loss_weight'] == pytest.approx(0.01)
    if 'perceptual_opt' in losses:
        assert train['perceptual_opt']['type'] == 'MINCPerceptualLoss'
        assert train['perceptual_opt']['loss_weight'] == pytest.approx(0.01)
    assert train['pixel_opt']['type'] == PIXEL_LOSS.get(name, 'PsiLoss')


def test_direct_baseline_is_a_fair_comparison_with_the_hybrid_refiner():
    hybrid, baseline = load(ROOT / 'options/hybrid.yml'), load(ROOT / 'options/baseline.yml')
    assert parameter_count(hybrid) == 2834947
    assert abs(parameter_count(baseline) / parameter_count(hybrid) - 1) < 0.10
    assert baseline['network_g']['type'] == 'TwoBranchNet'
    assert baseline['datasets']['train']['mode'] == 'direct'
    assert hybrid['datasets']['train']['mode'] == 'hybrid'


def tiny_overrides(data, minc):
    return [
        'name=tiny', 'num_gpu=0', 'train:total_iter=2', 'train:scheduler:milestones=[1]',
        f'datasets:train:dataroot={data}/train', f'datasets:val:dataroot={data}/val',
        'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=2',
        'datasets:train:num_worker_per_gpu=0', 'datasets:train:dataset_enlarge_ratio=1',
        'val:val_freq=2', 'logger:save_checkpoint_freq=2', 'logger:print_freq=1',
        'logger:use_tb_logger=false', f'train:perceptual_opt:weights_path={minc}',
    ]


@pytest.fixture(scope='module')
def tiny_setup(tmp_path_factory):
    import torch
    from expinterp_plugin.archs.minc_vgg_arch import MINCVGG16Features
    root = tmp_path_factory.mktemp('opts')
    write_synthetic_dataset(root / 'data', scenes=2, val_scenes=1, size=(40, 40))
    minc = root / 'minc_vgg16.pth'
    torch.save(MINCVGG16Features(layers=('conv5_3',), allow_random=True).state_dict(), minc)
    return root, root / 'data', minc


@pytest.mark.slow
@pytest.mark.parametrize('name,net', [
    ('hybrid.yml', ['network_g:n_feat=8', 'network_g:num_rrg=1', 'network_g:num_dab=1',
                    'network_g:reduction=4']),
    ('baseline.yml', ['network_g:num_feat=8', 'network_g:num_branch_blocks=1',
                      'network_g:num_fusion_blocks=1']),
])
def test_paper_configuration_trains_with_all_three_losses(tiny_setup, name, net):
    root, data, minc = tiny_setup
    command = [sys.executable, '-m', 'expinterp_plugin.train', '-opt', str(ROOT / 'options' / name),
               '--force_yml', *tiny_overrides(data, minc), *net]
    done = subprocess.run(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stdout[-4000:]
    log = done.stdout
    for term in ('l_pix', 'l_color', 'l_percep'):
        assert term in log, f'{term} missing from the training log'
    assert 'psnr_y0' in log
    assert (root / 'experiments' / 'tiny' / 'models' / 'net_g_2.pth').is_file()
