"""The MEFB multi-exposure fusion benchmark's data and scoring protocol.

X. Zhang, "Benchmarking and comparing multi-exposure image fusion algorithms", Information
Fusion 74, 2021 (public repository xingchenzhang/MEFB). A MEFB folder holds:

- ``input/NAME/NAME_A.*`` (under-exposed) and ``NAME_B.*`` (over-exposed), 8-bit RGB; folder
  and file names may differ from NAME in case (``input/tower``, ``sKY_a.png``);
- ``evaluationMetrics.mat``: ``resultsMetrics``, 100 pairs x 21 methods x 20 metrics, per-pair
  scores by MEFB's MATLAB code, pairs in the order of ``pairs_in_score_order.txt``;
- optionally ``fused_sample/NAME_METHOD.*``: some of the methods' stored fused images.

MEF-SSIM in MEFB: the two inputs and the fused image to grey with MATLAB ``rgb2gray`` on uint8,
then the multi-scale MEF-SSIM of Ma, Zeng, Wang (TIP 2015) with the inputs as the sequence:
exactly ``exposure.mef_ssim([under, over], fused)``.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from expinterp_plugin.exposure.brackets import is_image
from expinterp_plugin.exposure.fusion_quality import mef_ssim

#: MEFB's 21 methods, in the order of the .mat files' second axis.
METHODS = ('DEM', 'DSIFT_EF', 'FMMEF', 'GD', 'GFF', 'MEFAW', 'MEFCNN', 'MEFDSIFT', 'MEFOpt',
           'MGFF', 'MTI', 'PMEF', 'PWA', 'SPD_MEF', 'IFCNN', 'MEFNet', 'Deepfuse', 'FusionDN',
           'MEF-GAN', 'PMGI', 'U2Fusion')
#: MEFB's 20 metrics, in the order of the .mat files' third axis.
METRICS = ('Cross_entropy', 'Entropy', 'FMI', 'NMI', 'Psnr', 'Qncie', 'TE', 'Avg_gradient',
           'Edge_intensity', 'Qabf', 'Qp', 'SD', 'Spatial_frequency', 'Qc', 'Qw', 'Qy',
           'MEF_SSIM', 'Qcb', 'Qcv', 'VIF')
ORDER_FILE = 'pairs_in_score_order.txt'
SCORES_FILE = 'evaluationMetrics.mat'
SAMPLE_DIR = 'fused_sample'


@dataclass(frozen=True)
class MefbPair:
    """One MEFB scene: its name and the paths of its under- and over-exposed inputs."""
    name: str
    under: Path
    over: Path


def _required(path, what):
    if not path.exists():
        raise FileNotFoundError(f'{path}: MEFB {what} not found')
    return path


def pair_names(root):
    """Scene names in MEFB's score order (``pairs_in_score_order.txt``, one a line)."""
    path = _required(Path(root) / ORDER_FILE, 'pair order file')
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f'{path}: scene names repeat')
    return names


def find_input(folder, name, letter):
    """The one image ``NAME_<letter>.*`` in ``folder``, suffix and stem matched ignoring case."""
    wanted = f'{name}_{letter}'.lower()
    found = [p for p in sorted(folder.iterdir()) if is_image(p) and p.stem.lower() == wanted]
    if len(found) != 1:
        raise FileNotFoundError(f'{folder}: expected one {name}_{letter}.* image, found '
                                f'{len(found)}')
    return found[0]


def read_pairs(root):
    """Every MEFB pair, in score order: list of ``MefbPair``."""
    root = Path(root)
    names = pair_names(root)
    inputs = _required(root / 'input', 'input folder')
    folders = {p.name.lower(): p for p in inputs.iterdir() if p.is_dir()}
    pairs = []
    for name in names:
        folder = folders.get(name.lower())
        if folder is None:
            raise FileNotFoundError(f'{inputs / name}: MEFB scene folder not found')
        pairs.append(MefbPair(name, find_input(folder, name, 'A'), find_input(folder, name, 'B')))
    return pairs


def stored_scores(root, metric='MEF_SSIM'):
    """MEFB's stored per-pair scores of one metric: {method: float64 (pairs,)} in score order."""
    from scipy.io import loadmat
    path = _required(Path(root) / SCORES_FILE, 'score file')
    table = loadmat(str(path))['resultsMetrics']
    if table.shape[1:] != (len(METHODS), len(METRICS)):
        raise ValueError(f'{path}: resultsMetrics has shape {table.shape}, expected '
                         f'(pairs, {len(METHODS)}, {len(METRICS)})')
    column = table[:, :, METRICS.index(metric)]
    return {method: column[:, i].astype(np.float64) for i, method in enumerate(METHODS)}


def stored_fused(root):
    """The stored fused images of ``fused_sample/``: {(scene, method): path}; {} when absent.

    A file is ``SCENE_METHOD.ext`` with METHOD one of ``METHODS`` (MEF-GAN keeps its hyphen).
    """
    folder = Path(root) / SAMPLE_DIR
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(p for p in folder.iterdir() if is_image(p)):
        scene, _, method = path.stem.rpartition('_')
        if method in METHODS and scene:
            found[(scene, method)] = path
    return found


def mefb_mef_ssim(under, over, fused):
    """MEF-SSIM by MEFB's protocol: uint8 RGB (H, W, 3) inputs and fused image -> float."""
    return mef_ssim([under, over], fused, multiscale=True)
