"""Fusion judged on MEFB and on real brackets, gathered in one report with pictures.

1. MEFB (``benchmarks/mefb.py``): MEF-SSIM by MEFB's protocol beside its 21 stored methods,
   and the brightness-order reversal of ours and of the stored ``fused_sample/`` results.
2. Real brackets, the paper's Table III protocol: on a triplet layout (``expinterp prepare
   ../shared/data/real-brackets DIR --max-side 512``), Mertens of the pair, with the 2018
   virtual image, with y0 (the paper's three-frame fusion and `expinterp fuse`'s default
   coarse-middle fusion), optionally with a trained model (``--model CKPT``), and with the real
   middle frame (ceiling): MEF-SSIM against the three real exposures (as ``expinterp eval
   --fusion``) and the order reversal against the radiance from (dark, bright) with the known
   times; the real middle frame itself is scored too (a global camera curve: ~0 expected). The
   same fusions are also scored by MEFB's protocol (against the dark and bright frames only),
   so a reader sees what each protocol rewards: there even the real middle frame loses.
3. Per scene a side-by-side figure: images on top, below each fused image a map of its
   reversed block pairs over its blocks' grey (red: share of the block's compared pairs that
   are reversed, full red at 25 %; blue: unreliable blocks, saturated or black in both inputs
   or misaligned).

Writes OUT/report.md and, with the ``markdown`` package (a tensorboard dependency), OUT/report.html
beside OUT/figures/*.png, OUT/mefb.{md,json}, OUT/real.json; JSON summary on stdout.

Usage: python benchmarks/fusion_report.py [--mefb DIR | --data-root DATA] [--real DIR] [--out DIR]
       [--model CKPT [--opt YML]] [--limit N] [--figures sample|all|none]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.io import atomic_write_bytes, write_image
from expinterp_plugin.exposure.order import order_consistency
from expinterp_plugin.figures import comparison_strip, labelled_panel, LABEL_HEIGHT

FIGURE_WIDTH = 1500
COLUMNS_PER_ROW = 5
#: Reversed share of a block's pairs drawn at full red.
FULL_RED = 0.25
REAL_COLUMNS = {'pair': 'pair only', 'with_virtual2018': '+ 2018 virtual',
                'with_method': '+ y0 (three-frame)', 'coarse_middle': 'coarse-middle + y0',
                'with_model': '+ model', 'ceiling': '+ real mid',
                'real_mid_alone': 'real mid alone'}


def reversal_overlay(fused, result):
    """uint8 RGB (H, W, 3): the fused image as the metric sees it, flat blocks of its dimmed
    grey, each tinted by its reversed share (red, full at ``FULL_RED``), unreliable blocks blue;
    the border outside whole blocks black."""
    b = result.block
    rows, cols = result.block_map.shape
    grey = cv2.cvtColor(fused[:rows * b, :cols * b], cv2.COLOR_RGB2GRAY)
    blocks = cv2.resize(grey, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32)
    tint = np.repeat(blocks[..., None] * 0.55, 3, axis=2)
    share = np.nan_to_num(result.block_map, nan=0.0)
    alpha = np.clip(share / FULL_RED, 0.0, 1.0)[..., None]
    tint = tint * (1 - alpha) + alpha * np.float32([255, 30, 30])
    unreliable = np.isnan(result.block_map)
    tint[unreliable] = tint[unreliable] * 0.5 + np.float32([20, 40, 140])
    out = np.zeros_like(fused)
    out[:rows * b, :cols * b] = np.kron(np.clip(tint, 0, 255).astype(np.uint8),
                                        np.ones((b, b, 1), np.uint8))
    return out


def scene_figure(panels, title, width=FIGURE_WIDTH, columns=COLUMNS_PER_ROW):
    """A scene's side-by-side figure, uint8 RGB.

    panels: list of (label, uint8 RGB image, OrderResult or None), one size; each column shows
    the image, and below it the reversal map where a result is given. Columns wrap after
    ``columns``; a title bar on top.
    """
    blocks = []
    for start in range(0, len(panels), columns):
        chunk = panels[start:start + columns]
        chunk += [('', np.zeros_like(panels[0][1]), None)] * (columns - len(chunk))
        blocks.append(comparison_strip([(label, img) for label, img, _ in chunk], width))
        if any(r is not None for _, _, r in chunk):
            maps = [(f'reversed {100 * r.fraction:.2f} %'
                     if r is not None else '', reversal_overlay(img, r) if r is not None
                     else np.zeros_like(img)) for label, img, r in chunk]
            blocks.append(comparison_strip(maps, width))
    bar = labelled_panel(title, np.zeros((1, blocks[0].shape[1], 3), np.uint8),
                         (1, blocks[0].shape[1]))[:LABEL_HEIGHT]
    return np.concatenate([bar] + blocks, axis=0)


#: (blocks per shorter side, tolerance in codes, min EV) settings of the sensitivity table;
#: the first is the default.
SENSITIVITY = ((32, 3.0, 1.0), (16, 3.0, 1.0), (64, 3.0, 1.0), (32, 0.0, 1.0), (32, 8.0, 1.0),
               (32, 3.0, 0.5), (32, 3.0, 2.0))


def sensitivity(log_e, images):
    """{'blocks/tolerance/min_ev': {name: reversed fraction}} of fused ``images`` over the
    ``SENSITIVITY`` settings."""
    from expinterp_plugin.exposure.order import block_side
    out = {}
    for per_side, tolerance, min_ev in SENSITIVITY:
        block = block_side(log_e.shape, per_side)
        out[f'1/{per_side} side, tol {tolerance:g}, >= {min_ev:g} EV'] = {
            name: order_consistency(log_e, img, block, min_ev, tolerance).fraction
            for name, img in images.items()}
    return out


def sensitivity_markdown(records, title):
    """Mean over ``records`` (each with a 'sensitivity' entry) per setting and fusion."""
    records = [r['sensitivity'] for r in records if r.get('sensitivity')]
    if not records:
        return ''
    settings = list(records[0])
    names = list(records[0][settings[0]])
    lines = [f'{title} ({len(records)} scenes), mean reversed %', '',
             '| setting | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 1) + '|']
    for setting in settings:
        cells = [f'{100 * np.mean([r[setting][n] for r in records]):.2f}' for n in names]
        lines.append(f'| {setting} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_png(path, img):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_image(path, img)


def write_text(path, text):
    atomic_write_bytes(path, text.encode())


def real_brackets(root, out, model=None, opt=None, figures='sample'):
    """Table III protocol with order reversal on a triplet layout; see the module docstring."""
    import expinterp_plugin  # noqa: F401  (compat before basicsr's first import)
    from expinterp_plugin import evaluation as ev
    from expinterp_plugin.mefb import mefb_mef_ssim
    from expinterp_plugin.exposure.brackets import read_triplet_layout
    y0_predictor = ev.make_predictor('imf-linear')
    model_predictor = ev.make_predictor(f'model:{model}', opt=opt) if model else None
    rows, started = [], time.perf_counter()
    for triplet in read_triplet_layout(root):
        dark, mid, bright = ev.load_triplet_frames(triplet)
        pair = ev.triplet_pair(triplet, dark, bright, 'pair')
        prediction = y0_predictor(triplet, dark, bright, pair)
        images = ev.fusion_images(dark, mid, bright, prediction)
        if model_predictor is not None:
            images['with_model'] = ev.fusion_images(
                dark, mid, bright, model_predictor(triplet, dark, bright, pair),
                columns=('with_method',))['with_method']
        scores = ev.fusion_mef_ssim(dark, mid, bright, images)
        two_inputs = {c: mefb_mef_ssim(ev.to_uint8(dark), ev.to_uint8(bright), img)
                      for c, img in images.items()}
        log_e = ev.pair_log_radiance(pair)
        images['real_mid_alone'] = ev.to_uint8(mid)
        results = {c: order_consistency(log_e, img) for c, img in images.items()}
        row = {'name': triplet.name, 'mef_ssim': scores, 'mefb_protocol': two_inputs,
               'order': {c: r.summary() for c, r in results.items()},
               'sensitivity': sensitivity(log_e, {REAL_COLUMNS[c]: images[c] for c in
                                                  ('pair', 'with_method', 'coarse_middle',
                                                   'real_mid_alone')})}
        if figures == 'all' or (figures == 'sample' and triplet.name.endswith(
                ('_02_03_04', '_05_08_10', '_00_02_04', '_04_06_08', '_03_05_07'))):
            panels = [('dark', ev.to_uint8(dark), None), ('bright', ev.to_uint8(bright), None),
                      ('y0', ev.to_dtype(prediction, np.uint8), None)]
            panels += [(REAL_COLUMNS[c], img, results[c]) for c, img in images.items()]
            path = Path(out) / 'figures' / f'real_{triplet.name}.png'
            write_png(path, scene_figure(panels, triplet.name))
            row['figure'] = path.name
        rows.append(row)
    columns = list(rows[0]['order'])
    mean = {'mef_ssim': {c: float(np.mean([r['mef_ssim'][c] for r in rows]))
                         for c in rows[0]['mef_ssim']},
            'mefb_protocol': {c: float(np.mean([r['mefb_protocol'][c] for r in rows]))
                              for c in rows[0]['mefb_protocol']},
            'reversed': {c: float(np.mean([r['order'][c]['fraction'] for r in rows]))
                         for c in columns},
            'weighted': {c: float(np.mean([r['order'][c]['weighted'] for r in rows]))
                         for c in columns}}
    return {'root': str(root), 'model': str(model) if model else None, 'count': len(rows),
            'seconds': time.perf_counter() - started, 'mean': mean, 'triplets': rows}


def real_markdown(result):
    mean = result['mean']
    lines = [f'Real brackets ({result["count"]} triplets of `{result["root"]}`): MEF-SSIM '
             '(multi-scale) against the real low/mid/high, and brightness-order reversal '
             '(% of block pairs >= 1 EV apart; EV-weighted) against the radiance from the pair'
             + ('' if result['model'] else '; no trained model given (--model), so no model row'),
             + '; MEFB protocol: MEF-SSIM against the dark and bright frames only',
             '', '| fusion of | MEF-SSIM (Table III) | MEF-SSIM (MEFB protocol) | reversed % | '
             'EV-weighted % |', '|---|---|---|---|---|']
    for column, label in REAL_COLUMNS.items():
        if column in mean['reversed']:
            cells = [mean[key].get(column) for key in ('mef_ssim', 'mefb_protocol')]
            cells = ['' if v is None else f'{v:.4f}' for v in cells]
            lines.append(f'| {label} | {cells[0]} | {cells[1]} | '
                         f'{100 * mean["reversed"][column]:.2f} | '
                         f'{100 * mean["weighted"][column]:.2f} |')
    return '\n'.join(lines) + '\n'


def figure_section(title, names):
    lines = [f'## {title}', '']
    lines += [f'![{name}](figures/{name})\n' for name in names]
    return '\n'.join(lines)


def write_report(out, mefb_result, real_result):
    """OUT/report.md (and report.html when ``markdown`` is installed); returns the paths."""
    from mefb import markdown as mefb_markdown
    parts = ['# Fusion report', '']
    if mefb_result is not None:
        s = mefb_result['summary']
        parts += ['## MEFB', '', mefb_markdown(s),
                  f'{s["pairs"]} pairs in {s["seconds"]:.0f} s ({s["seconds_per_pair"]:.2f} s '
                  'a pair).', '']
    if real_result is not None:
        parts += ['## Real brackets (Table III protocol)', '', real_markdown(real_result),
                  f'{real_result["count"]} triplets in {real_result["seconds"]:.0f} s.', '']
    parts += ['## Sensitivity of the order metric to block size, tolerance and EV gap', '']
    if mefb_result is not None:
        parts.append(sensitivity_markdown(mefb_result['pairs'], 'MEFB fused_sample scenes'))
    if real_result is not None:
        parts.append(sensitivity_markdown(real_result['triplets'], 'Real brackets'))
    if mefb_result is not None:
        parts.append(figure_section('MEFB scenes', [r['figure'] for r in mefb_result['pairs']
                                                    if 'figure' in r]))
    if real_result is not None:
        parts.append(figure_section('Real brackets', [r['figure'] for r in
                                                      real_result['triplets'] if 'figure' in r]))
    text = '\n'.join(parts)
    written = [Path(out) / 'report.md']
    write_text(written[0], text)
    try:
        import markdown
    except ImportError:
        return written
    body = markdown.markdown(text, extensions=['tables'])
    style = ('body{font-family:sans-serif;max-width:1500px;margin:auto;background:#fafafa}'
             'table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;'
             'padding:2px 8px;text-align:left}'
             'img{max-width:100%}')
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Fusion report</title>'
            f'<style>{style}</style></head><body>{body}</body></html>')
    written.append(Path(out) / 'report.html')
    write_text(written[1], html)
    return written


def readme_figure(data, scene, path, methods=('FMMEF', 'DEM')):
    """The compact figure of the README: one MEFB scene's inputs, our pair-only, three-frame
    and default (coarse-middle) fusions and stored ``methods`` labelled with their MEF-SSIM,
    each above its reversal map, 1200 px wide."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mefb import benchmark_pair, fuse_ours
    from expinterp_plugin import mefb
    from expinterp_plugin.evaluation import pair_log_radiance
    from expinterp_plugin.exposure.io import read_image
    files = {p.name: p for p in mefb.read_pairs(data)}[scene]
    pair = benchmark_pair(files)
    under, over = read_image(files.under), read_image(files.over)
    ours, _, _ = fuse_ours(pair)
    stored = mefb.stored_fused(data)
    fused = {m: ours[m] for m in ('pair-only', 'y0', 'coarse-middle') if m in ours}
    fused.update({m: read_image(stored[(scene, m)]) for m in methods})
    log_e = pair_log_radiance(pair)
    scores = {m: mefb.mefb_mef_ssim(under, over, f) for m, f in fused.items()}
    panels = [('under', under, None), ('over', over, None)]
    panels += [(f'{m} {scores[m]:.3f}', f, order_consistency(log_e, f))
               for m, f in fused.items()]
    write_png(path, scene_figure(panels, f'MEFB {scene}: each fusion with its MEF-SSIM, below '
                                 'it its reversed block pairs (red)', 1200, len(panels)))


def main(argv=None):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import mefb as mefb_benchmark
    from data_root import add_data_root_argument, data_root, require
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mefb', help='MEFB folder (default: DATA/mefb; "" to skip)')
    add_data_root_argument(parser)
    parser.add_argument('--real', default='', help='triplet-layout folder of real brackets')
    parser.add_argument('--out', default='results/fusion_report', help='output folder')
    parser.add_argument('--model', help='a trained checkpoint for the real-bracket model row')
    parser.add_argument('--opt', help='its training option file')
    parser.add_argument('--limit', type=int, help='only the first N MEFB pairs')
    parser.add_argument('--figures', choices=('sample', 'all', 'none'), default='sample')
    parser.add_argument('--readme-figure', nargs=2, metavar=('SCENE', 'PNG'),
                        help='only write the compact figure of one MEFB scene to PNG')
    args = parser.parse_args(argv)
    if args.mefb is None:
        args.mefb = data_root(args.data_root) / 'mefb'
    if args.mefb:
        require(args.mefb)
    if args.readme_figure:
        readme_figure(args.mefb, *args.readme_figure)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mefb_result = mefb_benchmark.run(args.mefb, out, args.limit, args.figures) \
        if args.mefb else None
    real_result = real_brackets(args.real, out, args.model, args.opt, args.figures) \
        if args.real else None
    if real_result is not None:
        write_text(out / 'real.json', json.dumps(real_result, indent=1))
    written = write_report(out, mefb_result, real_result)
    print(json.dumps({'mefb': mefb_result and mefb_result['summary'],
                      'real': real_result and real_result['mean'],
                      'written': [str(p) for p in written]}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
