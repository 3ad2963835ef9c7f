"""Scoring interpolation methods on a triplet-layout dataset with BasicSR's PSNR/SSIM.

Each method predicts the middle exposure from the low (dark) and high (bright) frames only.
Predictions are rounded to the inputs' bit depth before scoring, as a saved output would be.
"""
import math

import numpy as np

from expinterp_plugin.exposure.brackets import read_triplet_layout
from expinterp_plugin.exposure.crf import load_crf
from expinterp_plugin.exposure.io import read_image, to_dtype
from expinterp_plugin.exposure.y0 import Y0Mapper, resolve_pair_crf

METHODS = ('imf-linear', 'imf-sigmoid', 'geomean')


def geometric_mean_image(dark, bright):
    """Model-free baseline sqrt(dark * bright) in the code domain -> float32 [0, 1]."""
    peak = float(np.iinfo(dark.dtype).max)
    return (np.sqrt(dark.astype(np.float64) * bright) / peak).astype(np.float32)


def triplet_crf(triplet, crf_spec, dark, bright):
    """The CRF a method uses for one triplet: 'dataset' reads ROOT/crf/NAME.npy."""
    if crf_spec == 'dataset':
        if triplet.crf is None:
            raise FileNotFoundError(f'no crf/{triplet.name}.npy beside the dataset for --crf dataset')
        return load_crf(triplet.crf)
    return resolve_pair_crf(crf_spec, dark, bright, triplet.t_low, triplet.t_high)


def predict(method, triplet, dark, bright, crf_spec='pair'):
    """Predicted middle exposure, float32 (H, W, 3) in [0, 1], RGB."""
    if method == 'geomean':
        return geometric_mean_image(dark, bright)
    if method in ('imf-linear', 'imf-sigmoid'):
        crf = triplet_crf(triplet, crf_spec, dark, bright)
        mapper = Y0Mapper(crf, triplet.t_low, triplet.t_high, triplet.t_mid,
                          imf=method.split('-')[1])
        return mapper(dark, bright)
    raise ValueError(f'unknown method {method!r}; choose from {", ".join(METHODS)}')


def score(pred01, gt):
    """PSNR (dB) and SSIM of a [0,1] prediction against integer ground truth, 8-bit scale."""
    from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
    pred = to_dtype(pred01, gt.dtype).astype(np.float64)
    target = gt.astype(np.float64)
    if gt.dtype == np.uint16:
        pred, target = pred / 257.0, target / 257.0
    # BasicSR's metrics work on BGR/any order alike; channel order does not change them.
    psnr = calculate_psnr(pred, target, crop_border=0, input_order='HWC')
    ssim = calculate_ssim(pred, target, crop_border=0, input_order='HWC')
    return float(psnr), float(ssim)


def evaluate(root, method='imf-linear', crf='pair', progress=None):
    """Score ``method`` on every triplet under ``root``; returns {'mean': .., 'triplets': [..]}."""
    import expinterp_plugin  # noqa: F401  (compat before basicsr's first import)
    triplets = read_triplet_layout(root)
    wrap = progress or (lambda it, **_: it)
    rows = []
    for t in wrap(triplets, total=len(triplets)):
        dark, gt, bright = read_image(t.low), read_image(t.mid), read_image(t.high)
        psnr, ssim = score(predict(method, t, dark, bright, crf), gt)
        rows.append({'name': t.name, 'psnr': psnr, 'ssim': ssim})
    finite = [r['psnr'] for r in rows if math.isfinite(r['psnr'])]
    mean = {'psnr': float(np.mean(finite)) if finite else float('inf'),
            'ssim': float(np.mean([r['ssim'] for r in rows]))}
    return {'root': str(root), 'method': method, 'crf': str(crf), 'count': len(rows),
            'mean': mean, 'triplets': rows}
