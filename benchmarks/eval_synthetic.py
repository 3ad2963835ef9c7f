"""CRF estimators on synthetic pairs from DoRF cameras the prior never saw (JSON).

Every DoRF curve of ``crf_prior.HELD_OUT_DORF`` (67 curves, excluded from the packaged prior)
renders one 4-EV pair and its middle frame from a real HDR radiance map of
../shared/data/hdr (curve k takes scene k mod n of the sorted .hdr files, resized to
--max-side): exposure set so that the median luminance of the middle frame is 0.18 of full
scale, Poisson-Gaussian sensor noise on the normalised linear signal (variance
``shot * v + read^2``), clipping, the DoRF curve (same in every channel) and rounding to 8 bit.
For each estimator: the IMF error dark -> middle in 8-bit codes against the true curve's IMF
(mean absolute over dark codes 10..245 whose true middle code is <= 235) and the y0 PSNR
against the rendered middle frame; with ``times_hidden`` also the ratio error in EV.

``--curves train`` runs the same on the 134 training curves (for choosing settings without
touching the held-out ones).

    python benchmarks/eval_synthetic.py [--curves held-out] [--max-side 256] [--data-root DIR]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from data_root import add_data_root_argument, data_root, require

from expinterp_plugin.exposure import crf_prior
from expinterp_plugin.exposure.estimate import estimate_crf, estimate_pair_exposure
from expinterp_plugin.exposure.imf import imf_table
from expinterp_plugin.exposure.prepare import resize_max_side
from expinterp_plugin.exposure.y0 import Y0Mapper

RATIO = 16.0
SHOT, READ = 2e-4, 1e-3


def radiance_maps(hdr_dir, max_side):
    """Sorted .hdr radiance maps, float64 RGB (H, W, 3), resized (INTER_AREA)."""
    paths = sorted(Path(hdr_dir).glob('*.hdr'))
    if not paths:
        sys.exit(f'{hdr_dir}: no .hdr radiance maps found')
    maps = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        rgb = np.maximum(resize_max_side(bgr, max_side)[:, :, ::-1].astype(np.float64), 0.0)
        maps.append(rgb)
    return maps


def render(radiance, irradiance, brightness, index, t, rng):
    """8-bit RGB frame of DoRF camera ``index`` at exposure ``t`` (noise, clip, curve, round)."""
    v = radiance * t
    v = v + rng.standard_normal(v.shape) * np.sqrt(SHOT * np.clip(v, 0, 1) + READ**2)
    codes = crf_prior.dorf_forward(v, irradiance[index], brightness[index]) * 255.0
    return np.clip(np.rint(codes), 0, 255).astype(np.uint8)


def imf_error(estimate, truth, ratio):
    codes = np.arange(256)
    true_imf, est_imf = imf_table(truth, ratio), imf_table(estimate, ratio)
    usable = (codes >= 10) & (codes <= 245) & (true_imf.max(axis=1) <= 235)
    return float(np.abs(est_imf - true_imf)[usable].mean()) if usable.any() else float('nan')


def psnr(pred01, target):
    """PSNR (dB) of a float [0, 1] prediction, rounded to 8 bit, against a uint8 frame."""
    error = np.rint(pred01.astype(np.float64) * 255) - target
    return float(10 * np.log10(255.0**2 / np.mean(error**2)))


def evaluate_curve(index, radiance, irradiance, brightness, estimators):
    rng = np.random.default_rng(index)
    luminance = radiance @ np.array([0.2126, 0.7152, 0.0722])
    t_mid = 0.18 / max(float(np.median(luminance)), 1e-12)
    t_dark, t_bright = t_mid / np.sqrt(RATIO), t_mid * np.sqrt(RATIO)
    dark, mid, bright = (render(radiance, irradiance, brightness, index, t, rng)
                         for t in (t_dark, t_mid, t_bright))
    truth = crf_prior.curve_crf(irradiance, brightness, index)
    row = {'curve': index}
    for name, options in estimators.items():
        crf = estimate_crf([dark, bright], [t_dark, t_bright], **options)
        y0 = Y0Mapper(crf, t_dark, t_bright, t_mid)(dark, bright)
        row[name] = {'imf_error': imf_error(crf, truth, np.sqrt(RATIO)),
                     'y0_psnr': psnr(y0, mid)}
    estimate = estimate_pair_exposure(dark, bright)
    y0 = Y0Mapper(estimate.crf, 1.0, estimate.ratio)(dark, bright)
    row['times_hidden'] = {'ratio_error_ev': float(abs(np.log2(estimate.ratio / RATIO))),
                           'imf_error': imf_error(estimate.crf, truth, np.sqrt(estimate.ratio)),
                           'y0_psnr': psnr(y0, mid),
                           'method': estimate.method}
    return row


def summarise(rows, key):
    values = [r[key] for r in rows]
    out = {}
    for metric in ('imf_error', 'y0_psnr', 'ratio_error_ev'):
        if metric in values[0]:
            v = np.array([x[metric] for x in values])
            # The worse tail: the 90th percentile of errors, the 10th of PSNR.
            tail = ('p10', 10) if metric == 'y0_psnr' else ('p90', 90)
            out[metric] = {'mean': round(float(np.nanmean(v)), 3),
                           'median': round(float(np.nanmedian(v)), 3),
                           tail[0]: round(float(np.nanpercentile(v, tail[1])), 3)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--curves', choices=('held-out', 'train'), default='held-out')
    parser.add_argument('--max-side', type=int, default=256)
    add_data_root_argument(parser)
    parser.add_argument('--estimators', default='{"emor": {"method": "emor"}, '
                        '"polynomial": {"method": "polynomial"}}',
                        help='JSON {name: estimate_crf options}')
    args = parser.parse_args()
    data = data_root(args.data_root)
    irradiance, brightness = crf_prior.load_dorf(require(data, 'crf', 'dorf_201_crf.mat'))
    maps = radiance_maps(require(data, 'hdr'), args.max_side)
    train, held_out = crf_prior.dorf_split()
    curves = held_out if args.curves == 'held-out' else train
    estimators = json.loads(args.estimators)
    start = time.perf_counter()
    rows = [evaluate_curve(k, maps[k % len(maps)], irradiance, brightness, estimators)
            for k in curves]
    print(json.dumps({'curves': args.curves, 'pairs': len(rows), 'ratio': RATIO,
                      'noise': {'shot': SHOT, 'read': READ}, 'max_side': args.max_side,
                      'seconds': round(time.perf_counter() - start, 1),
                      'summary': {k: summarise(rows, k)
                                  for k in list(estimators) + ['times_hidden']}},
                     indent=2))


if __name__ == '__main__':
    main()
