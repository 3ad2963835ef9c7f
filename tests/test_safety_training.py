"""Issue 9, items 4 and 9: checkpoints and training states.

A killed save cannot corrupt the previous state (BasicSR's saves go through a temporary folder),
``--auto_resume`` skips an unreadable latest state with a warning naming it, and no loader runs
code from a crafted pickle even when torch is told to default to full unpickling.
"""
import os
import warnings

import pytest
import torch

import expinterp_plugin  # noqa: F401  (compat before basicsr's first import)
from expinterp_plugin import compat
from expinterp_plugin.archs.denoisenet_arch import DenoiseNet, load_cycleisp_checkpoint
from expinterp_plugin.inference import read_network_weights


class Payload:
    """Unpickling it runs ``os.mkdir(marker)``: the stand-in for a hostile checkpoint."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """(checkpoint path, marker path): a state dict file carrying a Payload; torch is told to
    unpickle fully wherever a caller does not pass weights_only itself."""
    marker = tmp_path / 'code-ran'
    path = tmp_path / 'net_g_10.pth'
    torch.save({'params': {'w': torch.zeros(2)}, 'iter': 10, 'extra': Payload(marker)}, path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return path, marker


def test_the_hostile_file_does_run_code_under_a_plain_torch_load(hostile):
    path, marker = hostile
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.load(path)
    assert marker.is_dir()  # the environment variable works: the tests below mean something


@pytest.mark.parametrize('loader', [
    lambda p: read_network_weights(p, 'cpu'),
    lambda p: load_cycleisp_checkpoint(DenoiseNet(n_feat=16, num_rrg=1, num_dab=1), p),
    lambda p: compat.load_training_state(p, 'cpu'),
])
def test_every_loader_refuses_a_hostile_pickle_naming_the_file(hostile, loader):
    path, marker = hostile
    with pytest.raises((ValueError, RuntimeError), match=str(path)):
        loader(path)
    assert not marker.exists()


def test_setup_declares_the_torch_that_defaults_to_weights_only():
    from pathlib import Path
    setup = (Path(__file__).resolve().parents[1] / 'setup.py').read_text()
    assert "'torch>=2.6'" in setup


def save_state(folder, iteration):
    torch.save({'iter': iteration, 'epoch': 0, 'optimizers': [], 'schedulers': []},
               folder / f'{iteration}.state')


def test_auto_resume_skips_a_truncated_latest_state_naming_it(tmp_path):
    save_state(tmp_path, 10)
    save_state(tmp_path, 20)
    data = (tmp_path / '20.state').read_bytes()
    (tmp_path / '20.state').write_bytes(data[:len(data) // 2])
    with pytest.warns(RuntimeWarning, match=r'20\.state: not a readable training state'):
        path, state = compat.newest_readable_state(str(tmp_path), 'cpu')
    assert path == str(tmp_path / '10.state') and state['iter'] == 10


def test_resume_from_an_unreadable_named_state_names_it(tmp_path):
    (tmp_path / '5.state').write_bytes(b'')
    with pytest.raises(RuntimeError, match=r'5\.state: not a readable training state'):
        compat.load_training_state(str(tmp_path / '5.state'), 'cpu')


class FakeModel:
    def __init__(self, folder):
        self.opt = {'path': {'training_states': str(folder)}}


def test_an_interrupted_save_leaves_the_earlier_state_and_no_temporary_folder(tmp_path):
    save_state(tmp_path, 10)
    before = (tmp_path / '10.state').read_bytes()

    def dies_half_way(model, epoch, current_iter):
        with open(os.path.join(model.opt['path']['training_states'], '10.state'), 'wb') as f:
            f.write(before[:100])
        raise KeyboardInterrupt

    model = FakeModel(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        compat.save_atomically_into(model, 'training_states', dies_half_way, 0, 10)
    assert (tmp_path / '10.state').read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['10.state']
    assert model.opt['path']['training_states'] == str(tmp_path)


def test_a_killed_save_s_temporary_folder_goes_with_the_next_save(tmp_path):
    (tmp_path / f'{compat.TEMP_FOLDER_PREFIX}abc').mkdir()
    (tmp_path / f'{compat.TEMP_FOLDER_PREFIX}abc' / '30.state').write_bytes(b'partial')

    def saves(model, epoch, current_iter):
        save_state(type(tmp_path)(model.opt['path']['training_states']), current_iter)

    compat.save_atomically_into(FakeModel(tmp_path), 'training_states', saves, 0, 40)
    assert sorted(os.listdir(tmp_path)) == ['40.state']
    assert compat.newest_readable_state(str(tmp_path), 'cpu')[1]['iter'] == 40


def test_basicsr_saves_go_through_the_atomic_wrappers():
    from basicsr.models.base_model import BaseModel
    assert BaseModel.save_training_state is compat.save_training_state
    assert BaseModel.save_network is compat.save_network


def test_load_resume_state_resumes_the_older_state_and_its_network(tmp_path):
    states, models = tmp_path / 'training_states', tmp_path / 'models'
    states.mkdir()
    save_state(states, 100)
    save_state(states, 200)
    (states / '200.state').write_bytes(b'PK\x03\x04 truncated by a kill')
    opt = {'auto_resume': True, 'num_gpu': 0, 'network_g': {'type': 'DenoiseNet'},
           'path': {'training_states': str(states), 'models': str(models), 'resume_state': None}}
    with pytest.warns(RuntimeWarning, match=r'200\.state: not a readable training state'):
        state = compat.load_resume_state(opt)
    assert state['iter'] == 100
    assert opt['path']['resume_state'] == str(states / '100.state')
    assert opt['path']['pretrain_network_g'] == str(models / 'net_g_100.pth')
