"""The MEFB pairs without exposure times through `expinterp y0` and `expinterp fuse --imf-only`.

Every MEFB pair of ../shared/data/mefb (``expinterp_plugin.mefb.read_pairs``: under-exposed
NAME_A, over-exposed NAME_B, in MEFB's score order) goes through both commands in this process
with no times, so the exposure ratio is estimated (``estimate_pair_exposure``) unless the files
carry EXIF exposure times; for those
the ratio is also estimated directly and compared with EXIF's. Prints JSON: how many pairs
produced y0 and a fused image, the fallback steps used, the estimated ratios (EV) and
confidences, and for the scenes with an ``ev.txt`` the estimate against the span of the listed
EVs (max - min, assuming the extremes form the pair).

    python benchmarks/eval_mefb.py [--data-root DIR]
"""
import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from data_root import add_data_root_argument, data_root, require

from expinterp_plugin import mefb
from expinterp_plugin.cli import main as cli
from expinterp_plugin.exposure.estimate import estimate_pair_exposure
from expinterp_plugin.exposure.io import read_image

def run_json(argv):
    """(exit code, parsed JSON or None, stderr) of an in-process `expinterp ARGV --json`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli([str(a) for a in argv] + ['--json'])
    return rc, json.loads(out.getvalue()) if rc == 0 else None, err.getvalue().strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root_argument(parser)
    args = parser.parse_args()
    root = require(data_root(args.data_root), 'mefb')
    try:
        pairs = mefb.read_pairs(root)
    except FileNotFoundError as err:
        sys.exit(str(err))
    start = time.perf_counter()
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            under, over, scene = pair.under, pair.over, pair.under.parent
            rc_y0, y0, err_y0 = run_json(['y0', under, over, '-o', Path(tmp) / 'y0.png'])
            rc_fuse, fused, err_fuse = run_json(['fuse', under, over, '--imf-only', '-o',
                                                 Path(tmp) / 'fused.png'])
            if rc_y0 or rc_fuse:
                failures.append({'scene': pair.name, 'y0': err_y0, 'fuse': err_fuse})
                continue
            if y0['times_from'] == 'estimated ratio':
                row = {'scene': pair.name, **y0['ratio_estimate']}
            else:
                found = estimate_pair_exposure(read_image(under), read_image(over))
                row = {'scene': pair.name, 'ev': float(np.log2(found.ratio)),
                       'confidence': found.confidence, 'method': found.method,
                       'times_from': y0['times_from'],
                       'exif_ev': float(np.log2(y0['t_bright'] / y0['t_dark']))}
            ev_file = scene / 'ev.txt'
            if ev_file.is_file():
                evs = [float(v) for v in ev_file.read_text().split()]
                row['ev_span'] = max(evs) - min(evs)
            rows.append(row)
    evs = np.array([r['ev'] for r in rows])
    checked = [r for r in rows if 'ev_span' in r]
    errors = np.array([r['ev'] - r['ev_span'] for r in checked])
    exif = [r for r in rows if 'exif_ev' in r]
    exif_errors = np.array([r['ev'] - r['exif_ev'] for r in exif])
    print(json.dumps({
        'pairs': len(rows) + len(failures), 'produced_y0_and_fused': len(rows),
        'failures': failures, 'methods': dict(Counter(r['method'] for r in rows)),
        'ratio_le_1': int(np.sum(evs <= 0)),
        'estimated_ev': {'min': round(float(evs.min()), 2),
                         'median': round(float(np.median(evs)), 2),
                         'max': round(float(evs.max()), 2)},
        'median_confidence': round(float(np.median([r['confidence'] for r in rows])), 3),
        'ev_txt_scenes': {'count': len(checked),
                          'signed_median_error_ev': round(float(np.median(errors)), 3),
                          'median_abs_error_ev': round(float(np.median(np.abs(errors))), 3),
                          'per_scene': [{'scene': r['scene'], 'ev_span': r['ev_span'],
                                         'estimated_ev': r['ev']} for r in checked]},
        'exif_error_ev': {'pairs': len(exif),
                          'median_abs': round(float(np.median(np.abs(exif_errors))), 3),
                          'p90_abs': round(float(np.percentile(np.abs(exif_errors), 90)), 3),
                          'signed_median': round(float(np.median(exif_errors)), 3)}
        if exif else None,
        'exif_scenes': [{'scene': r['scene'], 'exif_ev': round(r['exif_ev'], 3),
                         'estimated_ev': round(r['ev'], 3)} for r in exif],
        'seconds': round(time.perf_counter() - start, 1)}, indent=2))


if __name__ == '__main__':
    main()
