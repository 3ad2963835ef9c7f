"""Entry points end to end: the installed .pth, the wheels, ``python -m expinterp_plugin.train``
and ``.test``, basicsr's own train.py, torchrun with two CPU ranks and ``--auto_resume``.

Data: 4 train + 1 val synthetic 48x48 scenes written per test directory; options:
tests/data/tiny_train.yml (HybridExposureModel + a DenoiseNet with 8 features, 4 iterations,
checkpoints every 2) and tests/data/tiny_test.yml. Every training runs in a subprocess with one
OpenMP thread, as a user would start it.
"""
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path

import pytest

from expinterp_plugin.exposure.synth import write_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / 'data'
TRAIN_OPTIONS = DATA / 'tiny_train.yml'
TEST_OPTIONS = DATA / 'tiny_test.yml'
PROBE = DATA / 'train_probe.py'
PTH_NAME = 'expinterp_plugin.pth'
PTH_CONTENT = ("import importlib.util; importlib.util.find_spec('expinterp_plugin') and "
               "__import__('expinterp_plugin._autoload')\n")
PROBE_CLASSES = ['model_type=ProbeHybridModel', 'datasets:train:type=IndexRecordingTripletDataset']


def installed_pth():
    """The .pth file that the expinterp installed in site-packages recorded, or None; skips the test
    when none is installed there. (Searching site-packages only: ``python -m pytest`` puts the
    checkout, with a build's expinterp.egg-info, first on sys.path.)"""
    site = sysconfig.get_paths()['purelib']
    found = [d for d in importlib.metadata.distributions(path=[site]) if d.metadata['Name'] == 'expinterp']
    if not found:
        pytest.skip(f'expinterp is not installed in {site} (pip install -e .)')
    recorded = [f for f in found[0].files or [] if str(f) == PTH_NAME]
    return Path(recorded[0].locate()) if recorded else None


def write_tiny_data(root):
    write_synthetic_dataset(Path(root) / 'datasets' / 'tiny', scenes=4, val_scenes=1, size=(48, 48))
    return Path(root)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(args, cwd, timeout=300):
    """``python ARGS`` in ``cwd`` (one OpenMP thread); its output, or the test fails showing its tail."""
    command = [sys.executable, *map(str, args)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f'{" ".join(command)} exited {done.returncode}:\n{done.stdout[-6000:]}')
    return done.stdout


def load(path):
    import torch
    return torch.load(path, map_location='cpu')


def assert_same_tensors(a, b, exact=True):
    import torch
    assert a.keys() == b.keys()
    for key in a:
        if exact:
            assert torch.equal(a[key], b[key]), key
        else:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-7, msg=key)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """An uninterrupted 4-iteration run of ``python -m expinterp_plugin.train`` and its output."""
    root = write_tiny_data(tmp_path_factory.mktemp('uninterrupted'))
    return root, run(['-m', 'expinterp_plugin.train', '-opt', TRAIN_OPTIONS], cwd=root)


# the .pth and the wheels ------------------------------------------------------------------------

def test_installed_distribution_puts_the_pth_into_site_packages():
    pth = installed_pth()
    assert pth is not None, f'{PTH_NAME} missing from the installed expinterp: reinstall with pip install -e .'
    assert pth.parent == Path(sysconfig.get_paths()['purelib'])
    assert pth.read_text(encoding='utf-8') == PTH_CONTENT


def test_interpreter_start_arms_the_hook_and_imports_nothing_heavy(tmp_path):
    if installed_pth() is None:
        pytest.fail(f'{PTH_NAME} is not installed')
    probe = ("import sys; print(any(type(f).__name__ == '_BasicsrFinder' for f in sys.meta_path), "
             "sorted(m for m in ('torch', 'numpy', 'cv2', 'basicsr', 'expinterp_plugin.compat') if m in sys.modules))")
    assert run(['-c', probe], cwd=tmp_path).strip() == 'True []'


def record_rows(wheel):
    record = next(n for n in wheel.namelist() if n.endswith('.dist-info/RECORD'))
    return {line.split(',')[0] for line in wheel.read(record).decode().splitlines()}


@pytest.mark.slow
def test_regular_and_editable_wheels_carry_the_pth_at_their_root(tmp_path):
    source = tmp_path / 'src'
    source.mkdir()
    for name in ('setup.py', 'pyproject.toml', 'README.md'):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / 'expinterp_plugin', source / 'expinterp_plugin',
                    ignore=shutil.ignore_patterns('__pycache__'))
    build = ("from setuptools import build_meta as b\n"
             "print('WHEELS', b.build_wheel('dist'), b.build_editable('dist'))\n")
    [line] = [ln for ln in run(['-c', build], cwd=source).splitlines() if ln.startswith('WHEELS ')]
    regular, editable = line.split()[1:]
    for name in (regular, editable):
        with zipfile.ZipFile(source / 'dist' / name) as wheel:
            assert wheel.read(PTH_NAME).decode() == PTH_CONTENT, name
            assert PTH_NAME in record_rows(wheel), name  # so pip uninstall removes it
    with zipfile.ZipFile(source / 'dist' / regular) as wheel:
        assert 'expinterp_plugin/_autoload.py' in wheel.namelist()
    with zipfile.ZipFile(source / 'dist' / editable) as wheel:
        assert any(n.startswith('__editable__') for n in wheel.namelist())  # setuptools' own path hook is kept


# python -m expinterp_plugin.train / .test ------------------------------------------------------

@pytest.mark.slow
def test_train_entry_writes_experiments_and_tb_logger_under_the_current_directory(trained):
    root, log = trained
    experiment = root / 'experiments' / 'tiny_hybrid'
    assert sorted(p.name for p in (experiment / 'training_states').iterdir()) == ['2.state', '4.state']
    assert {'net_g_2.pth', 'net_g_4.pth', 'net_g_latest.pth'} <= {p.name for p in (experiment / 'models').iterdir()}
    assert list((root / 'tb_logger' / 'tiny_hybrid').glob('events.out.tfevents.*'))
    assert 'Model [HybridExposureModel] is created.' in log and 'Start training from epoch: 0, iter: 0' in log
    assert re.search(r'# psnr_y0: \d+\.\d{4}', log)


def logged_metrics(text):
    return {name: float(value) for name, value in re.findall(r'# (\w+): (-?\d+\.\d+)', text)}


@pytest.mark.slow
def test_train_entry_ends_with_a_summary_of_the_final_validation_and_the_outputs(trained):
    root, log = trained
    last = log.strip().splitlines()[-1]
    found = re.fullmatch(r'expinterp: tiny_hybrid finished: validation PSNR (\d+\.\d\d) dB '
                         r'\(output\) vs (\d+\.\d\d) dB \(y0 alone\), ([+-]\d+\.\d\d) dB; '
                         r'model (\S+), log (\S+), TensorBoard tb_logger/tiny_hybrid', last)
    assert found, last
    psnr, psnr_y0, gain = (float(found[i]) for i in (1, 2, 3))
    # The final validation (after 'End of training') is the one summarised.
    final = logged_metrics(log.split('End of training')[1])
    assert psnr == pytest.approx(final['psnr'], abs=0.005)
    assert psnr_y0 == pytest.approx(final['psnr_y0'], abs=0.005)
    assert gain == pytest.approx(final['psnr'] - final['psnr_y0'], abs=0.01)
    assert found[4] == 'experiments/tiny_hybrid/models/net_g_latest.pth'
    assert (root / found[4]).is_file()
    assert re.fullmatch(r'experiments/tiny_hybrid/train_tiny_hybrid_\w+\.log', found[5])
    assert (root / found[5]).is_file()


def expected_val_metrics(root):
    """PSNR/SSIM of y0 and of y0 + f(y0) on the val scenes, computed here from the saved net_g."""
    import torch
    from basicsr.archs import build_network
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img
    import yaml
    opt = yaml.safe_load(TEST_OPTIONS.read_text(encoding='utf-8'))
    net = build_network(dict(opt['network_g'])).eval()
    net.load_state_dict(load(root / opt['path']['pretrain_network_g'])['params'])
    dataset_opt = dict(opt['datasets']['test_1'], phase='test', dataroot=str(root / 'datasets/tiny/val'))
    from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset
    dataset = ExposureTripletDataset(dataset_opt)
    sums = {}
    for sample in dataset:
        y0 = sample['lq'][None]
        with torch.no_grad():
            output = y0 + net(y0)
        gt = tensor2img([sample['gt'][None]])
        for suffix, image in (('', tensor2img([output])), ('_y0', tensor2img([y0]))):
            sums['psnr' + suffix] = sums.get('psnr' + suffix, 0) + calculate_psnr(image, gt, crop_border=0)
            sums['ssim' + suffix] = sums.get('ssim' + suffix, 0) + calculate_ssim(image, gt, crop_border=0)
    return {k: v / len(dataset) for k, v in sums.items()}, [Path(r['low']).stem for r in dataset.records]


@pytest.mark.slow
def test_test_entry_reports_psnr_and_ssim_of_output_and_y0_under_the_current_directory(trained):
    root, _ = trained
    log = run(['-m', 'expinterp_plugin.test', '-opt', TEST_OPTIONS], cwd=root)
    results = root / 'results' / 'tiny_hybrid_test'
    [log_file] = results.glob('test_tiny_hybrid_test_*.log')
    reported = logged_metrics(log_file.read_text(encoding='utf-8'))
    expected, scenes = expected_val_metrics(root)
    assert reported.keys() == expected.keys() == {'psnr', 'ssim', 'psnr_y0', 'ssim_y0'}, log[-3000:]
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, abs=2e-4), name  # logged with 4 decimals
    assert reported['psnr'] != pytest.approx(reported['psnr_y0'], abs=1e-3)  # the refiner changed y0
    for scene in scenes:
        assert (results / 'visualization' / 'tiny_val' / f'{scene}_tiny_hybrid_test.png').is_file()


# --auto_resume ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_auto_resume_continues_from_the_saved_iteration_and_optimizer_state(trained, tmp_path):
    root = write_tiny_data(tmp_path)
    states = root / 'experiments' / 'tiny_hybrid' / 'training_states'
    run(['-m', 'expinterp_plugin.train', '-opt', TRAIN_OPTIONS, '--force_yml', 'train:total_iter=2',
         'logger:use_tb_logger=false'], cwd=root)
    assert sorted(p.name for p in states.iterdir()) == ['2.state']
    saved = load(states / '2.state')

    log = run([PROBE, '-opt', TRAIN_OPTIONS, '--auto_resume', '--force_yml', PROBE_CLASSES[0],
               'logger:use_tb_logger=false'], cwd=root)
    assert 'Resuming training from epoch: 1, iter: 2.' in log
    assert re.search(r'iter:\s+3,', log) and not re.search(r'iter:\s+[12],', log)
    resumed = load(root / 'resumed_optimizer_rank0.pth')['state']
    assert resumed.keys() == saved['optimizers'][0]['state'].keys()
    for index, moments in saved['optimizers'][0]['state'].items():
        assert moments['exp_avg'].abs().sum() > 0
        assert_same_tensors(resumed[index], moments)
    assert sorted(p.name for p in states.iterdir()) == ['2.state', '4.state']

    # Iterations 3-4 after the resume = those of the uninterrupted run (same batch, reordered).
    uninterrupted = trained[0] / 'experiments' / 'tiny_hybrid'
    assert_same_tensors(load(root / 'experiments/tiny_hybrid/models/net_g_latest.pth')['params'],
                        load(uninterrupted / 'models/net_g_latest.pth')['params'], exact=False)
    final = load(states / '4.state')['optimizers'][0]['state']
    for index, moments in load(uninterrupted / 'training_states/4.state')['optimizers'][0]['state'].items():
        assert_same_tensors(final[index], moments, exact=False)


# basicsr's own train.py -------------------------------------------------------------------------

@pytest.mark.slow
def test_stock_basicsr_train_script_trains_the_plugins_model(tmp_path):
    """The stock script never imports the plugin: only the installed .pth can register it. It
    roots experiments/ at the folder holding the basicsr package (docs/design.md, compat item 3)."""
    if installed_pth() is None:
        pytest.fail(f'{PTH_NAME} is not installed')
    root = write_tiny_data(tmp_path)
    basicsr_dir = Path(importlib.util.find_spec('basicsr').origin).parent
    name = f'expinterp_test_stock_{uuid.uuid4().hex[:8]}'
    experiment = basicsr_dir.parent / 'experiments' / name
    try:
        log = run([basicsr_dir / 'train.py', '-opt', TRAIN_OPTIONS, '--force_yml', f'name={name}',
                   'train:total_iter=2', 'logger:use_tb_logger=false'], cwd=root)
        assert 'Model [HybridExposureModel] is created.' in log
        params = load(experiment / 'models' / 'net_g_latest.pth')['params']
        assert params['tail.0.weight'].shape == (3, 8, 3, 3)  # DenoiseNet's last conv at n_feat 8
        assert not (root / 'experiments').exists()
    finally:
        shutil.rmtree(experiment, ignore_errors=True)
        if (experiment.parent).is_dir() and not any(experiment.parent.iterdir()):
            experiment.parent.rmdir()


# torchrun ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_torchrun_two_cpu_ranks_train_on_disjoint_shards_and_stay_identical(tmp_path):
    root = write_tiny_data(tmp_path)
    log = run(['-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
               f'--master_port={free_port()}', PROBE, '-opt', TRAIN_OPTIONS, '--launcher', 'pytorch',
               '--force_yml', *PROBE_CLASSES, 'datasets:train:batch_size_per_gpu=2', 'train:total_iter=2',
               'logger:use_tb_logger=false'], cwd=root)
    assert 'World size (gpu number): 2' in log
    served = [[int(i) for i in (root / f'indices_rank{r}.txt').read_text().split()] for r in (0, 1)]
    # batch 2 per rank: one iteration per epoch; both iterations' shards split the 4 scenes
    for epoch in (0, 1):
        shard0, shard1 = (set(s[2 * epoch:2 * epoch + 2]) for s in served)
        assert len(shard0) == len(shard1) == 2 and not shard0 & shard1 and shard0 | shard1 == {0, 1, 2, 3}
    assert served[0][:2] != served[0][2:4]  # reshuffled per epoch

    rank0, rank1 = (load(root / f'net_g_rank{r}_-1.pth') for r in (0, 1))
    assert_same_tensors(rank0, rank1)  # gradients were averaged across ranks
    assert_same_tensors(rank0, load(root / 'experiments/tiny_hybrid/models/net_g_latest.pth')['params'])
    initial = load(root / 'net_g_rank0_init.pth')
    assert_same_tensors(initial, load(root / 'net_g_rank1_init.pth'))  # DDP broadcast rank 0's start
    assert any(not (rank0[k] == initial[k]).all() for k in rank0)
