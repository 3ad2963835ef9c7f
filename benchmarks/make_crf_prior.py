"""Rebuild the packaged CRF prior expinterp_plugin/exposure/data/crf_prior.npz from DoRF.

PCA of the inverse responses of the 134 DoRF training curves (``crf_prior.TRAIN_DORF``: every
curve whose index is not 2 mod 3), 1024 samples x 8 components + coefficient covariance, float32.
The DoRF file is ``dorf_201_crf.mat`` (Grossberg & Nayar, CVPR 2003; sha256
45d7b6467f147b6dd99875652bef2d36f0a6ef5cebbd5b8ed33759ee6a4c1fc1, checked).

    python benchmarks/make_crf_prior.py ../shared/data/crf/dorf_201_crf.mat
"""
import argparse
import hashlib
import io
import json
import sys

import numpy as np

from expinterp_plugin.exposure import crf_prior
from expinterp_plugin.exposure.io import atomic_write_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dorf', help='dorf_201_crf.mat')
    parser.add_argument('-o', '--output', default=str(crf_prior.PRIOR_FILE))
    args = parser.parse_args()
    with open(args.dorf, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != crf_prior.DORF_SHA256:
        sys.exit(f'{args.dorf}: sha256 {digest}, expected {crf_prior.DORF_SHA256}')
    irradiance, brightness = crf_prior.load_dorf(args.dorf)
    prior = crf_prior.build_prior(irradiance, brightness, crf_prior.TRAIN_DORF)
    buf = io.BytesIO()
    np.savez_compressed(buf, **prior)
    atomic_write_bytes(args.output, buf.getvalue())
    variance = np.diag(prior['covariance'])
    print(json.dumps({'output': args.output, 'bytes': len(buf.getvalue()),
                      'train_curves': len(crf_prior.TRAIN_DORF),
                      'coefficient_std': [round(float(v), 4) for v in np.sqrt(variance)]}))


if __name__ == '__main__':
    main()
