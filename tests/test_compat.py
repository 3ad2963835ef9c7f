"""The compat layer that makes stock basicsr 1.4.2 run here (expinterp_plugin/compat.py).

Each fix is checked for what it does and, where this machine shows it (no CUDA GPU), against
basicsr's own code failing as docs/design.md, "BasicSR 1.4.2 compatibility", describes, so
that no test passes without its fix.
"""
import os
import pickle
import socket
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

import expinterp_plugin  # noqa: F401  arms compat before basicsr's first import
import basicsr
import basicsr.train
import torchvision.transforms.functional
from basicsr.models.base_model import BaseModel
from basicsr.utils import dist_util, file_client, options
from expinterp_plugin import compat
from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset
from expinterp_plugin.exposure.synth import write_synthetic_dataset
from expinterp_plugin.triplet_store import write_triplet_lmdbs

without_gpu = pytest.mark.skipif(torch.cuda.is_available(),
                                 reason="basicsr's own code fails this way only without GPUs")

PATCHES = [
    (basicsr.train, 'load_resume_state', compat.load_resume_state),
    (file_client, 'LmdbBackend', compat.SharedLmdbBackend),
    (dist_util, 'init_dist', compat.init_dist),
    (options, 'init_dist', compat.init_dist),
    (BaseModel, 'model_to_device', compat.model_to_device),
]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def torchrun_env(monkeypatch):
    """torchrun's environment for a world of one process on this machine."""
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture
def gloo_group(torchrun_env):
    dist.init_process_group('gloo')


# applying -----------------------------------------------------------------------------------------

def test_every_patch_is_in_place_and_keeps_basicsrs_original():
    for owner, name, replacement in PATCHES:
        assert getattr(owner, name) is replacement, name
        kept = compat.original(owner, name)
        assert kept is not replacement and kept.__module__.startswith('basicsr.'), name
    assert file_client.FileClient._backends['lmdb'] is compat.SharedLmdbBackend


def test_apply_twice_changes_nothing():
    before = [(getattr(owner, name), compat.original(owner, name)) for owner, name, _ in PATCHES]
    assert compat.apply() is True
    assert compat.apply() is True
    assert [(getattr(owner, name), compat.original(owner, name)) for owner, name, _ in PATCHES] == before


def test_another_basicsr_version_warns_once_and_patches_nothing(monkeypatch):
    monkeypatch.setattr(basicsr, '__version__', '1.5.0')
    monkeypatch.setattr(compat, '_warned_versions', set())

    def must_not_patch(*args):
        raise AssertionError(f'patched {args[1]} on an unverified basicsr')

    monkeypatch.setattr(compat, 'replace', must_not_patch)
    with pytest.warns(RuntimeWarning, match=r'basicsr 1\.5\.0 .* verified on basicsr 1\.4\.2 only'):
        assert compat.apply() is False
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert compat.apply() is False


# (a) functional_tensor ----------------------------------------------------------------------------

def test_removed_functional_tensor_names_functional():
    from torchvision.transforms.functional_tensor import rgb_to_grayscale
    assert sys.modules['torchvision.transforms.functional_tensor'] is torchvision.transforms.functional
    assert rgb_to_grayscale is torchvision.transforms.functional.rgb_to_grayscale
    compat.alias_functional_tensor()
    assert sys.modules['torchvision.transforms.functional_tensor'] is torchvision.transforms.functional


def test_basicsr_imports_a_module_this_torchvision_does_not_ship():
    import inspect
    import basicsr.data.degradations
    assert 'from torchvision.transforms.functional_tensor import rgb_to_grayscale' in \
        inspect.getsource(basicsr.data.degradations)
    shipped = {p.stem for p in Path(torchvision.transforms.__file__).parent.glob('*.py')}
    assert 'functional' in shipped and 'functional_tensor' not in shipped


# (b) resume ---------------------------------------------------------------------------------------

def resume_options(root, auto_resume, resume_state=None):
    experiments = root / 'experiments' / 'run'
    return {'name': 'run', 'num_gpu': 0, 'auto_resume': auto_resume, 'network_g': {'type': 'DenoiseNet'},
            'path': {'training_states': str(experiments / 'training_states'), 'models': str(experiments / 'models'),
                     'resume_state': resume_state}}


def save_state(folder, iteration):
    """A training state as basicsr saves it, with one Adam moment tensor marked by ``iteration``."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {'epoch': iteration // 2, 'iter': iteration,
             'optimizers': [{'state': {0: {'step': torch.tensor(float(iteration)),
                                           'exp_avg': torch.full((2, 3), float(iteration))}},
                             'param_groups': [{'lr': 1e-3, 'params': [0]}]}],
             'schedulers': [{'milestones': {}}]}
    torch.save(state, folder / f'{iteration}.state')


def test_latest_training_state_compares_iterations_as_numbers(tmp_path):
    assert compat.latest_training_state(tmp_path / 'absent') is None
    assert compat.latest_training_state(tmp_path) is None
    for name in ('9.state', '10.state', '200.state.tmp', 'notes.txt', 'x.state'):
        (tmp_path / name).write_bytes(b'')
    assert compat.latest_training_state(tmp_path) == str(tmp_path / '10.state')


def test_auto_resume_loads_the_latest_state_onto_the_cpu(tmp_path):
    opt = resume_options(tmp_path, auto_resume=True)
    for iteration in (8, 12):
        save_state(tmp_path / 'experiments' / 'run' / 'training_states', iteration)
    state = compat.load_resume_state(opt)
    assert state['iter'] == 12 and state['epoch'] == 6
    moment = state['optimizers'][0]['state'][0]['exp_avg']
    assert moment.device == torch.device('cpu') and torch.equal(moment, torch.full((2, 3), 12.0))
    assert opt['path']['resume_state'] == opt['path']['training_states'] + os.sep + '12.state'
    # basicsr's check_resume points the net at the checkpoint of the resumed iteration
    assert opt['path']['pretrain_network_g'] == os.path.join(opt['path']['models'], 'net_g_12.pth')


def test_explicit_resume_state_is_loaded_and_nothing_to_resume_is_none(tmp_path):
    assert compat.load_resume_state(resume_options(tmp_path, auto_resume=True)) is None
    assert compat.load_resume_state(resume_options(tmp_path, auto_resume=False)) is None
    save_state(tmp_path / 'elsewhere', 6)
    state = compat.load_resume_state(resume_options(tmp_path, False, str(tmp_path / 'elsewhere' / '6.state')))
    assert state['iter'] == 6


def test_resume_device_follows_num_gpu():
    assert compat.model_device({'num_gpu': 0}) == torch.device('cpu')
    expected = 'cuda' if torch.cuda.is_available() else 'cpu'
    assert compat.model_device({'num_gpu': 1}).type == expected


@without_gpu
def test_basicsrs_own_loader_cannot_resume_without_a_gpu(tmp_path):
    save_state(tmp_path / 'experiments' / 'run' / 'training_states', 4)
    opt = resume_options(tmp_path, False, str(tmp_path / 'experiments' / 'run' / 'training_states' / '4.state'))
    with pytest.raises((AssertionError, RuntimeError)):
        compat.original(basicsr.train, 'load_resume_state')(opt)


# (c) LMDB -----------------------------------------------------------------------------------------

@pytest.fixture
def lmdb_root(tmp_path):
    """4 synthetic 32x32 scenes as a triplet LMDB root; shared environments closed afterwards."""
    write_synthetic_dataset(tmp_path / 'set', scenes=4, val_scenes=0, size=(32, 32))
    root = tmp_path / 'set' / 'train'
    write_triplet_lmdbs(root)
    yield root
    compat.close_shared_lmdb_envs()


def triplet_options(root, phase, backend='lmdb'):
    opt = {'name': f'{phase}_set', 'dataroot': str(root), 'io_backend': {'type': backend}, 'mode': 'hybrid',
           'phase': phase}
    if phase == 'train':
        opt.update(gt_size=32, use_hflip=False, use_rot=False)  # the whole frame: deterministic
    return opt


def test_train_and_val_datasets_read_one_lmdb_in_one_process(lmdb_root):
    train = ExposureTripletDataset(triplet_options(lmdb_root, 'train'))
    val = ExposureTripletDataset(triplet_options(lmdb_root, 'val'))
    disk = ExposureTripletDataset(triplet_options(lmdb_root, 'val', backend='disk'))
    for index in range(len(disk)):
        for sample in (train[index], val[index]):
            assert torch.equal(sample['gt'], disk[index]['gt']) and torch.equal(sample['lq'], disk[index]['lq'])
    assert train.file_client.client is not val.file_client.client
    frame = str(lmdb_root / 'mid.lmdb')
    assert compat.shared_lmdb_env(frame, readonly=True, lock=False, readahead=False) is \
        compat.shared_lmdb_env(frame, readonly=True, lock=False, readahead=False)


def test_basicsrs_own_backend_cannot_open_one_lmdb_twice(lmdb_root):
    import lmdb
    original = compat.original(file_client, 'LmdbBackend')
    first = original(str(lmdb_root / 'mid.lmdb'))
    with pytest.raises(lmdb.Error, match='already open'):
        original(str(lmdb_root / 'mid.lmdb'))
    first._client['default'].close()


def test_forked_dataloader_workers_reopen_an_lmdb_the_parent_holds_open(lmdb_root):
    val = ExposureTripletDataset(triplet_options(lmdb_root, 'val'))
    in_parent = [val[i]['gt'] for i in range(len(val))]  # the parent's environments are now open
    loader = torch.utils.data.DataLoader(val, batch_size=1, num_workers=2, multiprocessing_context='fork')
    in_workers = [batch['gt'][0] for batch in loader]
    assert len(in_workers) == len(in_parent) == 4
    assert all(torch.equal(a, b) for a, b in zip(in_parent, in_workers))
    assert torch.equal(val[0]['gt'], in_parent[0])  # the parent's handles survive the workers closing theirs


def test_the_fork_check_closes_inherited_environments(lmdb_root, monkeypatch):
    path = str(lmdb_root / 'low.lmdb')
    parent_env = compat.shared_lmdb_env(path, readonly=True, lock=False, readahead=False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            child_env = compat.shared_lmdb_env(path, readonly=True, lock=False, readahead=False)
            with child_env.begin() as txn:
                ok = child_env is not parent_env and txn.stat()['entries'] == 4
            os.write(write, b'1' if ok else b'0')
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b'1'
    assert compat.shared_lmdb_env(path, readonly=True, lock=False, readahead=False) is parent_env


def test_shared_backend_pickles_and_refuses_a_conflicting_reopen(lmdb_root):
    backend = compat.SharedLmdbBackend([str(lmdb_root / 'mid.lmdb')], client_keys=['mid'])
    clone = pickle.loads(pickle.dumps(backend))
    key = sorted(p.stem for p in (lmdb_root / 'mid').iterdir())[0]
    assert clone.get(key, 'mid') == backend.get(key, 'mid') and backend.get(key, 'mid')[:4] == b'\x89PNG'
    assert backend.get('no-such-key', 'mid') is None
    with pytest.raises(KeyError, match='low'):
        backend.get(key, 'low')
    with pytest.raises(ValueError, match='already open in this process'):
        compat.SharedLmdbBackend(str(lmdb_root / 'mid.lmdb'), readahead=True).get(key, 'default')
    with pytest.raises(ValueError, match='differ in length'):
        compat.SharedLmdbBackend(['a', 'b'], client_keys='default')


# (d) distributed ----------------------------------------------------------------------------------

@pytest.mark.parametrize('requested, gpus, expected', [
    (None, 0, 'gloo'), (None, 2, 'nccl'), ('gloo', 2, 'gloo'), ('nccl', 1, 'nccl'), ('mpi', 0, 'mpi')])
def test_backend_is_the_requested_one_else_nccl_with_gpus_and_gloo_without(requested, gpus, expected):
    assert compat.resolve_dist_backend(requested, gpus) == expected


def test_nccl_without_gpus_is_refused_naming_the_option():
    with pytest.raises(RuntimeError, match=r"dist_params\.backend is 'nccl' but no CUDA GPU"):
        compat.resolve_dist_backend('nccl', 0)


def write_options(path, dist_params):
    path.write_text(f'name: x\ndist_params: {dist_params}\n', encoding='utf-8')
    return str(path)


def test_dist_params_come_from_the_option_file_on_the_command_line(tmp_path):
    path = write_options(tmp_path / 'o.yml', '{backend: gloo, port: 29501}')
    assert compat.dist_params_of_command_line(['-opt', path, '--launcher', 'pytorch']) == \
        {'backend': 'gloo', 'port': 29501}
    assert compat.dist_params_of_command_line(['--launcher', 'pytorch']) == {}
    assert compat.dist_params_of_command_line(['-opt', str(tmp_path / 'absent.yml')]) == {}


@without_gpu
def test_init_dist_honours_the_option_files_backend(tmp_path, torchrun_env, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', write_options(tmp_path / 'o.yml', '{backend: nccl}')])
    with pytest.raises(RuntimeError, match='nccl'):
        compat.init_dist('pytorch')
    assert not dist.is_initialized()


@without_gpu
def test_parse_options_with_the_pytorch_launcher_makes_a_gloo_group_on_cpu(tmp_path, torchrun_env, monkeypatch):
    text = (f'name: x\nmodel_type: SRModel\nnum_gpu: auto\nmanual_seed: 1\ndatasets: {{}}\npath: {{}}\n'
            f'dist_params: {{backend: gloo}}\n')
    (tmp_path / 'o.yml').write_text(text, encoding='utf-8')
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(tmp_path / 'o.yml'), '--launcher', 'pytorch'])
    opt, _ = options.parse_options(str(tmp_path), is_train=True)
    assert opt['dist'] is True and (opt['rank'], opt['world_size']) == (0, 1) and opt['num_gpu'] == 0
    assert dist.get_backend() == 'gloo'


@without_gpu
def test_basicsrs_own_init_divides_by_the_gpu_count(torchrun_env):
    with pytest.raises(ZeroDivisionError):
        dist_util._init_dist_pytorch('gloo')  # what basicsr's init_dist calls, after forcing spawn


def test_slurm_variables_become_torchs(monkeypatch):
    for key, value in dict(SLURM_NODELIST='node[3-4]', SLURM_NTASKS='8', SLURM_PROCID='5', SLURM_LOCALID='1').items():
        monkeypatch.setenv(key, value)
    for key in ('MASTER_PORT', 'MASTER_ADDR', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK'):
        monkeypatch.delenv(key, raising=False)
    asked = []
    monkeypatch.setattr(compat, 'slurm_master_address', lambda nodes: asked.append(nodes) or 'node3')
    compat.export_slurm_environment()
    assert asked == ['node[3-4]']
    assert {k: os.environ[k] for k in ('MASTER_PORT', 'MASTER_ADDR', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK')} == \
        {'MASTER_PORT': '29500', 'MASTER_ADDR': 'node3', 'WORLD_SIZE': '8', 'RANK': '5', 'LOCAL_RANK': '1'}
    compat.export_slurm_environment(port=1234)
    assert os.environ['MASTER_PORT'] == '1234'


@without_gpu
def test_slurm_launcher_makes_a_gloo_group_on_cpu(torchrun_env, monkeypatch):
    for key, value in dict(SLURM_NODELIST='localhost', SLURM_NTASKS='1', SLURM_PROCID='0').items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(compat, 'slurm_master_address', lambda nodes: '127.0.0.1')
    compat.init_dist('slurm', backend=None, port=free_port())
    assert dist.get_backend() == 'gloo' and dist.get_world_size() == 1


def test_unknown_launcher_is_refused():
    with pytest.raises(ValueError, match='Invalid launcher type: mpirun'):
        compat.init_dist('mpirun')


def cpu_model(distributed):
    return BaseModel({'num_gpu': 0, 'is_train': False, 'dist': distributed})


def test_cpu_model_is_wrapped_in_ddp_without_device_ids(gloo_group):
    torch.manual_seed(0)
    net = cpu_model(distributed=True).model_to_device(nn.Linear(3, 2))
    assert isinstance(net, nn.parallel.DistributedDataParallel) and net.device_ids is None
    x = torch.randn(4, 3)
    net(x).sum().backward()
    assert torch.allclose(net.module.weight.grad, x.sum(0).expand(2, 3))  # gradients flow through the wrapper


def test_non_distributed_cpu_model_is_left_unwrapped():
    net = nn.Linear(3, 2)
    assert cpu_model(distributed=False).model_to_device(net) is net


@without_gpu
def test_basicsrs_own_wrapper_asks_for_a_cuda_device(gloo_group):
    with pytest.raises((AssertionError, RuntimeError)):
        compat.original(BaseModel, 'model_to_device')(cpu_model(distributed=True), nn.Linear(3, 2))
