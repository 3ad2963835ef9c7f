"""``python -m expinterp_plugin.train`` with two recording classes, for tests/test_entrypoints.py.

Run it with the train entry's arguments plus ``--force_yml model_type=ProbeHybridModel
datasets:train:type=IndexRecordingTripletDataset``. In the current directory, per rank R:

- ``indices_rankR.txt``: every train index the dataset served, one per line, in order;
- ``net_g_rankR_init.pth``: the rank's net_g state dict once the model is built;
- ``net_g_rankR_ITER.pth``: the rank's own net_g state dict at each save (basicsr saves rank 0's only);
- ``resumed_optimizer_rankR.pth``: the optimizer state dict right after a resume loaded it.
"""
import runpy

import expinterp_plugin  # noqa: F401  arms the compat layer before basicsr's first import
import torch
from basicsr.utils.dist_util import get_dist_info
from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY

from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset
from expinterp_plugin.models.hybrid_model import HybridExposureModel


def _rank():
    return get_dist_info()[0]


@DATASET_REGISTRY.register()
class IndexRecordingTripletDataset(ExposureTripletDataset):

    def __getitem__(self, index):
        with open(f'indices_rank{_rank()}.txt', 'a', encoding='utf-8') as f:
            f.write(f'{index}\n')
        return super().__getitem__(index)


@MODEL_REGISTRY.register()
class ProbeHybridModel(HybridExposureModel):

    def __init__(self, opt):
        super().__init__(opt)
        torch.save(self.get_bare_model(self.net_g).state_dict(), f'net_g_rank{_rank()}_init.pth')

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        torch.save(self.optimizers[0].state_dict(), f'resumed_optimizer_rank{_rank()}.pth')

    def save(self, epoch, current_iter):
        super().save(epoch, current_iter)
        torch.save(self.get_bare_model(self.net_g).state_dict(), f'net_g_rank{_rank()}_{current_iter}.pth')


runpy.run_module('expinterp_plugin.train', run_name='__main__', alter_sys=True)
