"""Make stock basicsr 1.4.2 run on current torch, torchvision and lmdb, with or without GPUs.

Every fix works from outside basicsr: it replaces a name that basicsr looks up at call time
(a module attribute, a class attribute or a registry entry); no basicsr file is edited and no
basicsr code is copied. docs/design.md, "BasicSR 1.4.2 compatibility", lists each failure.

(a) ``alias_functional_tensor``: ``import basicsr`` fails on torchvision >= 0.17, which removed
    ``torchvision.transforms.functional_tensor`` (BasicSR issues #533, #663, PR #624; design item 2). Must
    precede basicsr's first import: ``_hook`` calls ``apply_before_basicsr_import``.
(b) ``load_resume_state`` replaces ``basicsr.train.load_resume_state``, which maps every stored
    tensor with ``.cuda()`` and so cannot resume without a GPU (design item 4; BasicSR issue #107 is
    the general report that its training assumes CUDA).
(c) ``SharedLmdbBackend`` replaces ``basicsr.utils.file_client.LmdbBackend``: py-lmdb >= 2
    refuses to open one environment twice in a process (py-lmdb issue #230, PR #412), which basicsr does
    when train and val read one LMDB and in forked DataLoader workers (design item 5).
(d) ``init_dist`` replaces basicsr's ``init_dist`` (the copy ``parse_options`` calls, in
    ``basicsr.utils.options``, and the one in ``basicsr.utils.dist_util``): basicsr's always
    uses nccl for torchrun and does ``rank % torch.cuda.device_count()``, a ZeroDivisionError
    without GPUs (the mmcv code it comes from: open-mmlab/mmdetection#368). ``model_to_device``
    replaces ``BaseModel.model_to_device``, which builds DistributedDataParallel with CUDA
    ``device_ids`` even for a CPU model (design item 6).
(e) ``save_training_state`` and ``save_network`` wrap ``BaseModel``'s, which ``torch.save``
    straight into the final ``.state`` / ``.pth`` path: a kill during a save left a truncated
    file that made every later ``--auto_resume`` fail. basicsr's own method now writes into a
    temporary folder beside the target and the file is renamed into place; resuming skips an
    unreadable latest state with a warning naming it (``load_resume_state``).

Not a patch: the training/test root. ``expinterp_plugin.train`` and ``expinterp_plugin.test``
pass ``os.getcwd()`` to basicsr's pipelines (design item 3).

Every patch is idempotent. The basicsr patches (b)-(e) are applied only to basicsr
``VERIFIED_BASICSR_VERSION``; another version gets one RuntimeWarning and no patch. (a) touches
no basicsr code (it only gives a removed torchvision module name its new home) and is applied
whenever that module is missing, so that any basicsr version can at least be imported.
"""
import argparse
import importlib
import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile

VERIFIED_BASICSR_VERSION = '1.4.2'
BASICSR_INSTALL_HINT = 'pip install --no-build-isolation --no-deps basicsr==1.4.2'
_FUNCTIONAL_TENSOR = 'torchvision.transforms.functional_tensor'
_ORIGINAL_PREFIX = '_expinterp_original_'
_warned_versions = set()


def require_basicsr():
    """Import and return basicsr (the plugin registers on that import), or exit naming the fix."""
    try:
        return importlib.import_module('basicsr')
    except ModuleNotFoundError as error:
        if error.name != 'basicsr':
            raise
        raise SystemExit(f'expinterp: basicsr is not installed; install it with: {BASICSR_INSTALL_HINT}') from None


def is_verified_version(version):
    """True for the basicsr version the patches were verified on; warns once for any other."""
    if version == VERIFIED_BASICSR_VERSION:
        return True
    if version not in _warned_versions:
        _warned_versions.add(version)
        warnings.warn(
            f'expinterp: basicsr {version} is installed but its compat patches were verified on basicsr '
            f'{VERIFIED_BASICSR_VERSION} only, so none is applied (CPU resume, shared LMDB environments, '
            f'distributed training on CPU). Install the verified version with: {BASICSR_INSTALL_HINT}',
            RuntimeWarning,
            stacklevel=3)
    return False


def original(owner, name):
    """What ``owner.name`` was before ``replace`` first replaced it (the current value if never)."""
    return getattr(owner, _ORIGINAL_PREFIX + name, getattr(owner, name))


def replace(owner, name, replacement):
    """Set ``owner.name = replacement``, keeping the first original for ``original`` (idempotent)."""
    if not hasattr(owner, _ORIGINAL_PREFIX + name):
        setattr(owner, _ORIGINAL_PREFIX + name, getattr(owner, name))
    setattr(owner, name, replacement)


# (a) torchvision.transforms.functional_tensor ---------------------------------------------------

def alias_functional_tensor():
    """Make ``torchvision.transforms.functional_tensor`` name ``torchvision.transforms.functional``.

    basicsr/data/degradations.py imports ``rgb_to_grayscale`` from the removed module; the
    function lives on, same signature, in ``functional``. Nothing is done where the module exists.
    """
    if _FUNCTIONAL_TENSOR in sys.modules or importlib.util.find_spec(_FUNCTIONAL_TENSOR) is not None:
        return
    sys.modules[_FUNCTIONAL_TENSOR] = importlib.import_module('torchvision.transforms.functional')


# (b) resume on the model's device ---------------------------------------------------------------

def model_device(opt):
    """The device basicsr's BaseModel puts the nets on: CUDA when ``num_gpu != 0`` (and CUDA
    exists), else the CPU. Resumed optimizer states must land there too."""
    import torch
    if opt['num_gpu'] != 0 and torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def training_states(folder):
    """Paths of the ``<iteration>.state`` files in ``folder``, highest iteration first."""
    if not os.path.isdir(folder):
        return []
    iterations = [int(stem) for stem, ext in map(os.path.splitext, os.listdir(folder))
                  if ext == '.state' and stem.isdigit()]
    return [os.path.join(folder, f'{i}.state') for i in sorted(iterations, reverse=True)]


def latest_training_state(folder):
    """Path of the ``<iteration>.state`` file with the highest iteration in ``folder``, or None."""
    states = training_states(folder)
    return states[0] if states else None


#: What ``torch.load`` raises on a truncated, corrupt or non-torch file.
UNREADABLE_CHECKPOINT_ERRORS = (RuntimeError, EOFError, OSError, ValueError, KeyError,
                                pickle.UnpicklingError, zipfile.BadZipFile)


def load_training_state(path, device):
    """A training state saved by basicsr, loaded with ``weights_only=True`` (plain containers
    and tensors only: a crafted file cannot run code) onto ``device``.

    Raises:
        RuntimeError: naming ``path``, when the file is truncated, corrupt or not a state.
    """
    import torch
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except UNREADABLE_CHECKPOINT_ERRORS as err:
        raise RuntimeError(f'{path}: not a readable training state ({err})') from err
    if not isinstance(state, dict) or 'iter' not in state:
        raise RuntimeError(f'{path}: not a basicsr training state (no "iter" entry)')
    return state


def newest_readable_state(folder, device):
    """(path, state) of the newest training state in ``folder`` that loads; each unreadable
    newer one (a save killed before saves were atomic, a damaged disk) gets a RuntimeWarning
    naming it. (None, None) when there is none."""
    for path in training_states(folder):
        try:
            return path, load_training_state(path, device)
        except RuntimeError as err:
            warnings.warn(f'expinterp: skipping training state {err}; resuming from an older '
                          'one', RuntimeWarning, stacklevel=2)
    return None, None


def load_resume_state(opt):
    """Drop-in for ``basicsr.train.load_resume_state`` that loads onto ``model_device(opt)``.

    Same choice of state as basicsr: with ``--auto_resume`` the latest state of the experiment
    (and ``opt['path']['resume_state']`` is set to it), else ``path.resume_state``. Auto-resume
    searches ``opt['path']['training_states']``, where the run saves its states (under the
    run's root), instead of basicsr's ``experiments/NAME/training_states`` relative to the
    current directory, which is another folder whenever the root is not the current directory.
    An unreadable latest state is skipped with a warning naming it (``newest_readable_state``).

    Returns:
        dict | None: basicsr's training state (``epoch``, ``iter``, ``optimizers``,
        ``schedulers``) with every tensor on ``model_device(opt)``; None when nothing to resume.
    """
    from basicsr.utils import check_resume
    if opt['auto_resume']:
        path, state = newest_readable_state(opt['path']['training_states'], model_device(opt))
        if path is not None:
            opt['path']['resume_state'] = path
    else:
        path = opt['path'].get('resume_state')
        state = load_training_state(path, model_device(opt)) if path else None
    if state is None:
        return None
    check_resume(opt, state['iter'])
    return state


# (e) atomic saves ---------------------------------------------------------------------------------

TEMP_FOLDER_PREFIX = '.expinterp-save-'


def save_atomically_into(self, path_key, save, *args, **kwargs):
    """Run basicsr's ``save(self, *args)``, which writes into ``self.opt['path'][path_key]``,
    against a temporary sibling folder instead, then rename what it wrote into the real folder
    (a kill mid-save leaves the earlier files intact and at worst a marked temporary folder,
    removed by the next save)."""
    folder = self.opt['path'][path_key]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.startswith(TEMP_FOLDER_PREFIX):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=TEMP_FOLDER_PREFIX, dir=folder)
    try:
        self.opt['path'][path_key] = tmp
        try:
            save(self, *args, **kwargs)
        finally:
            self.opt['path'][path_key] = folder
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_training_state(self, epoch, current_iter):
    """``BaseModel.save_training_state``, written atomically (``save_atomically_into``); on the
    master process only, as basicsr's (``master_only``)."""
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.dist_util import get_dist_info
    if get_dist_info()[0] != 0:
        return
    save_atomically_into(self, 'training_states', original(BaseModel, 'save_training_state'),
                         epoch, current_iter)


def save_network(self, net, net_label, current_iter, param_key='params'):
    """``BaseModel.save_network``, written atomically (``save_atomically_into``); on the master
    process only, as basicsr's (``master_only``)."""
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.dist_util import get_dist_info
    if get_dist_info()[0] != 0:
        return
    save_atomically_into(self, 'models', original(BaseModel, 'save_network'), net, net_label,
                         current_iter, param_key)


# (c) one LMDB environment per path and process --------------------------------------------------

_lmdb_envs = {}  # realpath -> (lmdb.Environment, the keyword arguments it was opened with)
_lmdb_envs_pid = [os.getpid()]


def shared_lmdb_env(path, **open_kwargs):
    """This process's one ``lmdb.Environment`` for ``path``, opened with ``open_kwargs`` on first use.

    In a forked child (``os.getpid()`` changed) the inherited environments are closed first and
    then reopened on demand: LMDB forbids using an environment across fork, and py-lmdb's record
    of open environments is inherited too, so the child could not open its own otherwise.
    Closing in the child unmaps the child's copy only; the parent's handles stay valid.

    Raises:
        ValueError: ``path`` is already open in this process with other arguments.
    """
    import lmdb
    if _lmdb_envs_pid[0] != os.getpid():
        close_shared_lmdb_envs()
        _lmdb_envs_pid[0] = os.getpid()
    key = os.path.realpath(path)
    if key not in _lmdb_envs:
        _lmdb_envs[key] = (lmdb.open(path, **open_kwargs), open_kwargs)
    env, opened_with = _lmdb_envs[key]
    if opened_with != open_kwargs:
        raise ValueError(f'LMDB {path} is already open in this process with {opened_with}; it cannot also be '
                         f'opened with {open_kwargs} (lmdb >= 2 allows one environment per path and process)')
    return env


def close_shared_lmdb_envs():
    """Close this process's shared environments (before rewriting an LMDB it has read, say)."""
    for env, _ in _lmdb_envs.values():
        env.close()
    _lmdb_envs.clear()


class SharedLmdbBackend:
    """basicsr's ``LmdbBackend`` (same arguments and ``get``), reading through ``shared_lmdb_env``.

    Holds paths only, so any number of backends on one LMDB share its environment and the
    backend pickles (spawned DataLoader workers). A plain class rather than a subclass of
    basicsr's, so that importing compat imports no basicsr (it runs before basicsr's __init__).

    Args:
        db_paths (str | list[str]): LMDB folders.
        client_keys (str | list[str]): one name per folder, passed to ``get``.
        readonly, lock, readahead, **kwargs: ``lmdb.open`` arguments, basicsr's defaults.
    """

    def __init__(self, db_paths, client_keys='default', readonly=True, lock=False, readahead=False, **kwargs):
        self.db_paths = [str(p) for p in db_paths] if isinstance(db_paths, (list, tuple)) else [str(db_paths)]
        client_keys = [client_keys] if isinstance(client_keys, str) else list(client_keys)
        if len(client_keys) != len(self.db_paths):
            raise ValueError(f'client_keys {client_keys} and db_paths {self.db_paths} differ in length')
        self._paths = dict(zip(client_keys, self.db_paths))
        self._open_kwargs = dict(readonly=readonly, lock=lock, readahead=readahead, **kwargs)

    def get(self, filepath, client_key):
        """The bytes stored under key ``filepath`` in the LMDB named ``client_key`` (None if absent)."""
        if client_key not in self._paths:
            raise KeyError(f'LMDB client key {client_key!r} is not one of {sorted(self._paths)}')
        env = shared_lmdb_env(self._paths[client_key], **self._open_kwargs)
        with env.begin(write=False) as txn:
            return txn.get(str(filepath).encode('ascii'))

    def get_text(self, filepath):
        raise NotImplementedError('LMDB backends hold bytes only (as in basicsr)')


# (d) distributed training on any device ---------------------------------------------------------

def resolve_dist_backend(requested, cuda_device_count):
    """The process-group backend: ``requested`` if given, else nccl with GPUs and gloo without.

    Raises:
        RuntimeError: nccl requested without a GPU (torch's own error does not say why).
    """
    backend = requested or ('nccl' if cuda_device_count > 0 else 'gloo')
    if backend == 'nccl' and cuda_device_count == 0:
        raise RuntimeError("dist_params.backend is 'nccl' but no CUDA GPU is visible; "
                           "set it to 'gloo' (or leave it out) to train on CPUs")
    return backend


def dist_params_of_command_line(argv):
    """``dist_params`` of the option file named by ``-opt`` in ``argv``; {} when absent or unreadable.

    ``parse_options`` passes the option file's ``dist_params`` to ``init_dist`` for the slurm
    launcher only; for torchrun it calls ``init_dist('pytorch')``, so the backend is read here
    from the very file it is parsing (the one on the command line). Unreadable files are left
    for basicsr's parser to report.
    """
    import yaml
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    path = parser.parse_known_args(argv)[0].opt
    if not path or not os.path.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        options = yaml.safe_load(f)
    return dict((options or {}).get('dist_params') or {})


def slurm_master_address(node_list):
    """First host name of a slurm node list (``scontrol show hostname``), as basicsr does."""
    names = subprocess.run(['scontrol', 'show', 'hostname', node_list], capture_output=True, text=True,
                           check=True).stdout.split()
    return names[0]


def export_slurm_environment(port=None):
    """Set torch.distributed's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)
    from slurm's, with basicsr's choices: master = first node, port = ``port``, else
    $MASTER_PORT, else 29500; LOCAL_RANK from SLURM_LOCALID (basicsr: rank % GPUs per node)."""
    os.environ['MASTER_PORT'] = str(port) if port is not None else os.environ.get('MASTER_PORT', '29500')
    os.environ['MASTER_ADDR'] = slurm_master_address(os.environ['SLURM_NODELIST'])
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_dist(launcher, backend=None, **kwargs):
    """Drop-in for basicsr's ``init_dist(launcher, backend='nccl', **kwargs)`` that works on CPUs too.

    Args:
        launcher (str): 'pytorch' (torchrun's environment) or 'slurm' (converted to it first).
        backend (str | None): None = ``dist_params.backend`` of the option file on the command
            line if it has one, else nccl with GPUs and gloo without (``resolve_dist_backend``).
        kwargs: 'slurm' takes ``port``; everything else goes to ``init_process_group``.

    With GPUs, as basicsr: the spawn start method (keeps CUDA out of forked DataLoader workers)
    and CUDA device ``rank % GPU count``. Without, no CUDA call at all and the start method is
    left alone (fork keeps the datasets' prebuilt tables shared with the workers).
    """
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    if launcher == 'slurm':
        export_slurm_environment(kwargs.pop('port', None))
    elif launcher != 'pytorch':
        raise ValueError(f'Invalid launcher type: {launcher}')
    if backend is None:
        backend = dist_params_of_command_line(sys.argv[1:]).get('backend')
    num_gpus = torch.cuda.device_count()
    backend = resolve_dist_backend(backend, num_gpus)
    if num_gpus > 0:
        if mp.get_start_method(allow_none=True) is None:
            mp.set_start_method('spawn')
        torch.cuda.set_device(int(os.environ['RANK']) % num_gpus)
    dist.init_process_group(backend=backend, **kwargs)


def model_to_device(self, net):
    """Drop-in for ``BaseModel.model_to_device``: a CPU model is wrapped in DistributedDataParallel
    without CUDA ``device_ids``; CUDA and non-distributed models go through basicsr's method."""
    from basicsr.models.base_model import BaseModel
    from torch.nn.parallel import DistributedDataParallel
    if not self.opt['dist'] or self.device.type == 'cuda':
        return original(BaseModel, 'model_to_device')(self, net)
    return DistributedDataParallel(net.to(self.device),
                                   find_unused_parameters=self.opt.get('find_unused_parameters', False))


# applied by _hook ----------------------------------------------------------------------------------

def apply_before_basicsr_import():
    """Fixes that must be in place before basicsr's own ``__init__`` runs."""
    alias_functional_tensor()


def apply():
    """Apply every fix to the imported basicsr (idempotent).

    Returns:
        bool: whether the basicsr patches were applied (False for an unverified version).
    """
    alias_functional_tensor()
    basicsr = require_basicsr()
    if not is_verified_version(basicsr.__version__):
        return False
    import basicsr.train
    from basicsr.models.base_model import BaseModel
    from basicsr.utils import dist_util, file_client, options
    replace(basicsr.train, 'load_resume_state', load_resume_state)
    replace(file_client, 'LmdbBackend', SharedLmdbBackend)
    file_client.FileClient._backends['lmdb'] = SharedLmdbBackend
    replace(dist_util, 'init_dist', init_dist)
    replace(options, 'init_dist', init_dist)
    replace(BaseModel, 'model_to_device', model_to_device)
    replace(BaseModel, 'save_training_state', save_training_state)
    replace(BaseModel, 'save_network', save_network)
    return True
