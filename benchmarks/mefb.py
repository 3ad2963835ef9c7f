"""The MEFB benchmark by its own protocol, with brightness-order consistency beside MEF-SSIM.

Every under/over pair of MEFB (Zhang, Information Fusion 2021; DATA/mefb) is fused by the
project's methods, the pair read the way `expinterp fuse` reads it: the files' EXIF times
(ExposureTime at one ISO and aperture) where both carry them (17 pairs), else the ratio
estimated from the images (``--times-unknown``: estimated for every pair, as MEFB has no times):

- ``pair-only``: Mertens of (over, under), ``expinterp fuse --pair-only``;
- ``virtual2018``: Mertens of (over, the 2018 virtual image, under);
- ``y0``: the paper's Mertens of (over, y0, under), ``expinterp fuse --fusion three-frame``; a
  pair whose y0 fails is counted, listed, and scored as pair-only in the "failures as
  pair-only" mean (a row of its own only when there are failures);
- ``coarse-middle``: `expinterp fuse`'s default (the pair's blend at fine scales, the blend with
  y0 at coarse ones); a pair whose y0 fails is fused alone, as the command does;
- ``refiner`` (with ``--model CKPT``): Mertens of (over, y0 + a trained network, under),
  ``expinterp fuse --model CKPT --fusion three-frame``; ``refiner coarse-middle`` the default
  fusion with that network.

Scores: MEF-SSIM by MEFB's protocol (``expinterp_plugin.mefb.mefb_mef_ssim``) against the two
inputs, beside MEFB's 21 stored methods (``evaluationMetrics.mat``); and the brightness-order
reversal fraction (``exposure.order``) against the radiance estimated from the pair with the
same estimated ratio and CRF (n/a where the estimate fails), for ours and for the stored fused
images of ``fused_sample/``.

Usage: python benchmarks/mefb.py [MEFB_DIR | --data-root DATA] [--out DIR] [--limit N] [--figures sample|all|none]
       [--model CKPT [--opt OPTIONS.yml]]
JSON on stdout; DIR/mefb.md (tables), DIR/mefb.json, DIR/figures/mefb_NAME.png.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_root import add_data_root_argument, data_root, require  # noqa: E402
from fusion_report import scene_figure, sensitivity, write_png, write_text  # noqa: E402

from expinterp_plugin import mefb  # noqa: E402
from expinterp_plugin.evaluation import pair_log_radiance, virtual2018_image  # noqa: E402
from expinterp_plugin.exposure.fusion import mertens_fuse  # noqa: E402
from expinterp_plugin.exposure.io import read_image, to_dtype  # noqa: E402
from expinterp_plugin.exposure.order import order_consistency  # noqa: E402
from expinterp_plugin.fusion import fuse_pair  # noqa: E402
from expinterp_plugin.pair import Pair, read_pair  # noqa: E402

OURS = ('pair-only', 'virtual2018', 'y0', 'coarse-middle')


def benchmark_pair(files, times_unknown=False, geometry=None):
    """The ``Pair`` of one MEFB pair's files (``mefb.MefbPair``) as `expinterp fuse` reads it
    (EXIF times where both files carry them), or with ``times_unknown`` its times left to the
    estimated-times path whatever the files record; ``geometry``: the Pair's align and deghost
    settings (default: fuse's, alignment and deghosting on)."""
    geometry = geometry or {}
    if not times_unknown:
        return read_pair(files.under, files.over, **geometry)
    return Pair(read_image(files.under), read_image(files.over),
                names=(str(files.under), str(files.over)), **geometry)


def fuse_ours(pair, interpolator=None):
    """{method: fused uint8 RGB}, the y0 frame (or None) and the failure message (or None) of
    one uint8 RGB ``Pair``: y0 as `expinterp fuse` finds it (the pair's times, else its
    estimated-times path: t_dark = 1, the ratio fitted with the response under the DoRF prior,
    then the CRF from the pair), and with an ``Interpolator`` its refined frame ('refiner').
    A ValueError on the way leaves the three-frame y0 (and refiner) fusions out; the default
    fusion then fuses the pair alone, as the command does."""
    fused = {'pair-only': fuse_pair(pair, method='pair').fused,
             'virtual2018': mertens_fuse([pair.bright, to_dtype(
                 virtual2018_image(pair.dark, pair.bright), np.uint8), pair.dark]),
             'coarse-middle': fuse_pair(pair, Pair.model_driven).fused}
    try:
        with_y0 = fuse_pair(pair, Pair.model_driven, method='three-frame')
    except ValueError as err:
        return fused, None, str(err)
    fused['y0'] = with_y0.fused
    if interpolator is not None:
        fused['refiner'] = fuse_pair(pair, interpolator.interpolate_pair,
                                     method='three-frame').fused
        fused['refiner coarse-middle'] = fuse_pair(pair, interpolator.interpolate_pair).fused
    return fused, with_y0.middle, None


def score_pair(pair, stored_paths, figure_dir=None, interpolator=None, times_unknown=False,
               geometry=None):
    """One pair's record: MEF-SSIM and order reversal of ours and of its stored fused images."""
    started = time.perf_counter()
    ours = benchmark_pair(pair, times_unknown, geometry)
    # MEFB's protocol scores against the files as given; the Pair's frames may be aligned and
    # deghosted.
    under, over = read_image(pair.under), read_image(pair.over)
    fused, y0, failure = fuse_ours(ours, interpolator)
    stored = {method: read_image(path) for method, path in stored_paths.items()}
    stored = {m: img for m, img in stored.items() if img.shape == under.shape}
    record = {'name': pair.name, 'size': [under.shape[1], under.shape[0]], 'failure': failure,
              'mef_ssim': {m: mefb.mefb_mef_ssim(under, over, f) for m, f in fused.items()},
              'stored_mef_ssim': {m: mefb.mefb_mef_ssim(under, over, f)
                                  for m, f in stored.items()},
              'order': None, 'stored_order': None}
    results = {}
    if failure is None:
        record['ratio'] = ours.t_bright / ours.t_dark
        record['times'] = ours.times.source
        log_e = pair_log_radiance(ours)
        results = {m: order_consistency(log_e, f) for m, f in {**fused, **stored}.items()}
        record['order'] = {m: results[m].summary() for m in fused}
        record['stored_order'] = {m: results[m].summary() for m in stored}
        if stored:
            record['sensitivity'] = sensitivity(log_e, {m: fused[m] for m in OURS})
    record['seconds'] = time.perf_counter() - started
    if figure_dir is not None:
        panels = [('under', under, None), ('over', over, None)]
        if y0 is not None:
            panels.append(('y0', y0, None))
        panels += [(name, img, results.get(name))
                   for name, img in {**fused, **stored}.items()]
        path = Path(figure_dir) / f'mefb_{pair.name}.png'
        write_png(path, scene_figure(panels, pair.name))
        record['figure'] = path.name
    return record


def mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(records, stored_scores, names):
    """Tables of the run: MEF-SSIM means of ours and MEFB's, order reversal means."""
    ours = [m for m in OURS + ('refiner', 'refiner coarse-middle')
            if any(m in r['mef_ssim'] for r in records)]
    index = [names.index(r['name']) for r in records]
    failed = [r['name'] for r in records if r['failure']]
    rows = [{'method': f'MEFB {m}', 'mef_ssim': float(np.mean(stored_scores[m][index])),
             'pairs': len(index)} for m in mefb.METHODS]
    for method in ('pair-only', 'virtual2018'):
        rows.append({'method': f'ours: {method}', 'pairs': len(records),
                     'mef_ssim': mean(r['mef_ssim'][method] for r in records)})
    ok = [r for r in records if not r['failure']]
    rows.append({'method': 'ours: coarse-middle (the default of `fuse`)', 'pairs': len(records),
                 'mef_ssim': mean(r['mef_ssim']['coarse-middle'] for r in records)})
    if failed:
        rows.append({'method': 'ours: y0 three-frame (pairs where y0 works)', 'pairs': len(ok),
                     'mef_ssim': mean(r['mef_ssim']['y0'] for r in ok)})
    rows.append({'method': 'ours: y0 three-frame' + (', failures as pair-only' if failed else
                                                    ' (the paper\'s fusion)'),
                 'pairs': len(records),
                 'mef_ssim': mean(r['mef_ssim'].get('y0', r['mef_ssim']['pair-only'])
                                  for r in records)})
    for method in ('refiner', 'refiner coarse-middle'):
        if method in ours:
            rows.append({'method': f'ours: y0 + {method} (pairs where y0 works)',
                         'pairs': len(ok), 'mef_ssim': mean(r['mef_ssim'][method] for r in ok)})
    rows.sort(key=lambda row: -row['mef_ssim'])
    order = {m: {'pairs': len(ok),
                 'fraction': mean(r['order'][m]['fraction'] for r in ok),
                 'weighted': mean(r['order'][m]['weighted'] for r in ok),
                 'pairs_with_reversal_above_1pct': sum(r['order'][m]['fraction'] > 0.01
                                                       for r in ok)}
             for m in ours}
    sample = [r for r in records if r['stored_mef_ssim']]
    stored_checks = [abs(r['stored_mef_ssim'][m] - stored_scores[m][names.index(r['name'])])
                     for r in sample for m in r['stored_mef_ssim']]
    y0_better = sum(r['mef_ssim']['y0'] > r['mef_ssim']['pair-only'] for r in ok)
    times = {source: sum(r.get('times') == source for r in records)
             for source in ('exif', 'estimated ratio')}
    return {'pairs': len(records), 'failures': failed, 'times': times, 'mef_ssim_table': rows,
            'order_ours': order, 'y0_beats_pair_only_mef_ssim': y0_better,
            'fused_sample': {'images': len(stored_checks),
                             'max_abs_error_vs_stored': max(stored_checks, default=None),
                             'scenes': sample_table(sample)}}


def sample_table(sample):
    """{scene: {method: {'mef_ssim', 'reversed'}}} of ours and the stored fused images."""
    table = {}
    for r in sample:
        methods = {**r['mef_ssim'], **r['stored_mef_ssim']}
        orders = {**(r['order'] or {}), **(r['stored_order'] or {})}
        table[r['name']] = {m: {'mef_ssim': s, 'reversed': orders.get(m, {}).get('fraction')}
                            for m, s in methods.items()}
    return table


def fmt(value, digits=4, percent=False):
    if value is None:
        return 'n/a'
    return f'{100 * value:.2f}' if percent else f'{value:.{digits}f}'


def markdown(summary):
    """The run's tables as Markdown."""
    times = summary['times']
    lines = [f'MEF-SSIM (MEFB protocol, multi-scale, against the two inputs), mean over '
             f'{summary["pairs"]} pairs (times: {times["exif"]} from EXIF, '
             f'{times["estimated ratio"]} estimated); y0 failures: {len(summary["failures"])} '
             f'({", ".join(summary["failures"]) or "none"})', '',
             '| rank | method | pairs | MEF-SSIM |', '|---|---|---|---|']
    for rank, row in enumerate(summary['mef_ssim_table'], 1):
        name = f'**{row["method"]}**' if row['method'].startswith('ours') else row['method']
        lines.append(f'| {rank} | {name} | {row["pairs"]} | {fmt(row["mef_ssim"])} |')
    wins = summary['y0_beats_pair_only_mef_ssim']
    lines += ['', f'y0 fusion beats pair-only on MEF-SSIM on {wins} of '
              f'{summary["order_ours"]["y0"]["pairs"]} pairs.', '',
              'Brightness-order reversal (% of block pairs >= 1 EV apart rendered in reversed '
              'order; EV-weighted; pairs with > 1 % reversed), over the pairs where y0 '
              'works', '', '| fusion | pairs | reversed % | EV-weighted % | '
              'pairs > 1 % |', '|---|---|---|---|---|']
    for method, o in summary['order_ours'].items():
        lines.append(f'| {method} | {o["pairs"]} | {fmt(o["fraction"], percent=True)} | '
                     f'{fmt(o["weighted"], percent=True)} | '
                     f'{o["pairs_with_reversal_above_1pct"]} |')
    scenes = summary['fused_sample']['scenes']
    if scenes:
        stored = [m for m in mefb.METHODS if any(m in row for row in scenes.values())]
        methods = list(OURS) + stored
        lines += ['', 'The scenes of `fused_sample/`: MEF-SSIM / reversed %', '',
                  '| scene | ' + ' | '.join(methods) + ' |', '|---' * (len(methods) + 1) + '|']
        for scene, row in scenes.items():
            cells = [f'{fmt(row[m]["mef_ssim"])} / {fmt(row[m]["reversed"], percent=True)}'
                     if m in row else '' for m in methods]
            lines.append(f'| {scene} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def run(data, out, limit=None, figures='sample', progress=True, interpolator=None,
        times_unknown=False, geometry=None):
    """Score MEFB under ``data`` (with ``interpolator``, a trained ``Interpolator``, its
    'refiner' fusions too; ``times_unknown``: ignore the files' EXIF times; ``geometry``: the
    pairs' align/deghost settings, ``benchmark_pair``); write tables and
    figures under ``out``; return the result."""
    names = mefb.pair_names(data)
    pairs = mefb.read_pairs(data)[:limit]
    stored_scores = mefb.stored_scores(data)
    samples = mefb.stored_fused(data)
    figure_dir = Path(out) / 'figures'
    figure_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records = []
    for i, pair in enumerate(pairs):
        stored_paths = {m: p for (scene, m), p in samples.items() if scene == pair.name}
        draw = figures == 'all' or (figures == 'sample' and stored_paths)
        records.append(score_pair(pair, stored_paths, figure_dir if draw else None,
                                  interpolator, times_unknown, geometry))
        if progress:
            print(f'\r{i + 1}/{len(pairs)} {pair.name:<24}', end='', file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    summary = summarise(records, stored_scores, names)
    summary['seconds'] = time.perf_counter() - started
    summary['seconds_per_pair'] = summary['seconds'] / max(1, len(records))
    result = {'data': str(data), 'times_unknown': times_unknown, 'geometry': geometry or {},
              'summary': summary,
              'pairs': records}
    write_text(Path(out) / 'mefb.md', markdown(summary))
    write_text(Path(out) / 'mefb.json', json.dumps(result, indent=1))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data', nargs='?', help='MEFB folder (default: DATA/mefb)')
    add_data_root_argument(parser)
    parser.add_argument('--out', default='results/mefb', help='output folder (tables, figures)')
    parser.add_argument('--limit', type=int, help='only the first N pairs (score order)')
    parser.add_argument('--figures', choices=('sample', 'all', 'none'), default='sample',
                        help='side-by-side figures for the fused_sample scenes, all, or none')
    parser.add_argument('--model', help='a trained checkpoint: adds the refiner fusion')
    parser.add_argument('--opt', help='its option file (default: found beside the checkpoint)')
    parser.add_argument('--times-unknown', action='store_true',
                        help='ignore the files\' EXIF times: estimate every ratio')
    parser.add_argument('--align', default='auto', help='as `expinterp fuse --align`')
    parser.add_argument('--deghost', choices=('on', 'off'), default='on',
                        help='as `expinterp fuse --deghost`')
    args = parser.parse_args(argv)
    args.data = require(args.data or data_root(args.data_root) / 'mefb')
    interpolator = None
    if args.model:
        from expinterp_plugin.inference import load_interpolator
        interpolator = load_interpolator(args.model, args.opt)
    result = run(args.data, args.out, args.limit, args.figures, interpolator=interpolator,
                 times_unknown=args.times_unknown,
                 geometry={'align': args.align, 'deghost': args.deghost == 'on'})
    print(json.dumps(result['summary'], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
