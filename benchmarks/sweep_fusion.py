"""Choose the coarse-middle fusion's scale rule by a sweep on MEFB and the real brackets (JSON).

Designs: the middle frame's share of each pyramid level (``pyramid_fusion.middle_shares``) for
every ``--splits`` fraction of the short side and ``--widths`` transition (octaves), beside the
pair's Mertens ('pair') and the paper's three-frame Mertens ('three-frame'). The middle frame is
y0 at full size here (the rule is chosen on the exact blend; ``--reduced`` scores the product's
reduced middle frame instead).

- MEFB (100 pairs, read the way `expinterp fuse` reads them: EXIF times where the files carry
  them, else estimated): MEF-SSIM by MEFB's protocol (against the two inputs) and the mean
  brightness-order reversal fraction against the pair's radiance.
- Real brackets (4-EV triplets, frames <= --max-side px, known times): the paper's Table III
  protocol (MEF-SSIM against the real low, mid and high frames), MEFB's protocol on the same
  pairs, reversals; plus the real middle frame in the three-frame fusion ('real-middle').

The rule for the default, stated before the sweep (issue 17): the highest MEFB MEF-SSIM among
the designs whose mean MEFB reversal fraction is <= the three-frame y0 fusion's and whose
Table III score is >= the pair's; the JSON's ``chosen`` applies it.

Usage: python benchmarks/sweep_fusion.py [--data-root DIR] [--max-side 512] [--limit N]
       [--splits 1/4,1/8,...] [--widths 0,1] [--reduced]
"""
import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_root import add_data_root_argument, data_root, require  # noqa: E402

from expinterp_plugin import mefb  # noqa: E402
from expinterp_plugin.evaluation import pair_log_radiance  # noqa: E402
from expinterp_plugin.exposure import pyramid_fusion as pf  # noqa: E402
from expinterp_plugin.exposure.brackets import select_triplets  # noqa: E402
from expinterp_plugin.exposure.fusion import mertens_fuse  # noqa: E402
from expinterp_plugin.exposure.fusion_quality import mef_ssim  # noqa: E402
from expinterp_plugin.exposure.io import read_image, to_dtype  # noqa: E402
from expinterp_plugin.exposure.order import order_consistency  # noqa: E402
from expinterp_plugin.exposure.prepare import find_brackets, resize_max_side  # noqa: E402
from expinterp_plugin.exposure.brackets import bracket_exposures  # noqa: E402
from expinterp_plugin.pair import Pair, read_pair  # noqa: E402


def fraction_list(text):
    return [float(Fraction(v)) for v in text.split(',')]


def design_name(split, width):
    return f'split 1/{round(1 / split):g} width {width:g}'


def designs_of(args):
    return [(design_name(s, w), s, w) for s in args.splits for w in args.widths]


def fused_designs(pair, middle, designs, reduced=False):
    """{name: uint8 RGB fused} of every design plus 'pair' and 'three-frame' for a uint8 ``Pair``
    and its middle frame (uint8 RGB, full size)."""
    dark, bright = pair.dark, pair.bright
    fused = {'pair': mertens_fuse([bright, dark]),
             'three-frame': mertens_fuse([bright, middle, dark])}
    depth = pf.pyramid_depth(dark.shape)
    short = min(dark.shape[:2])
    parts = None if reduced else pf.blend_parts(dark, bright, (0, dark, middle, bright))
    for name, split, width in designs:
        shares = pf.middle_shares(short, depth, split, width)
        if reduced:
            level = pf.reduced_level(dark.shape, split, width)
            small = [pf.reduce_codes(f, level) for f in (dark, bright)]
            small_pair = Pair(*small, pair.times, crf=pair.crf)
            y0 = small_pair.codes(small_pair.model_driven().output)
            image = pf.coarse_middle_fuse(dark, bright, (level, small[0], y0, small[1]),
                                          split, width)
        else:
            image = pf.blend(parts, shares)
        fused[name] = to_dtype(np.clip(image, 0, 1), np.uint8)
    return fused


def mefb_rows(root, designs, limit, reduced, names=None, times_unknown=False):
    """Per-pair MEFB records {name, times source, mef_ssim {design}, order {design}}: the first
    ``limit`` pairs or those ``names``; ``times_unknown`` ignores the files' EXIF times."""
    rows = []
    for files in mefb.read_pairs(root)[:limit]:
        if names and files.name not in names:
            continue
        pair = (Pair(read_image(files.under), read_image(files.over)) if times_unknown
                else read_pair(files.under, files.over))
        record = {'name': files.name}
        try:
            middle = pair.codes(pair.model_driven().output)
            record['times'] = pair.times.source
        except ValueError as err:
            record['failure'] = str(err)
            rows.append(record)
            continue
        fused = fused_designs(pair, middle, designs, reduced)
        log_e = pair_log_radiance(pair)
        # MEFB's protocol scores against the files as given, not the aligned, deghosted frames
        under, over = read_image(files.under), read_image(files.over)
        record['mef_ssim'] = {m: mefb.mefb_mef_ssim(under, over, f) for m, f in fused.items()}
        record['order'] = {m: order_consistency(log_e, f).fraction for m, f in fused.items()}
        rows.append(record)
        print(f'{files.name}: {record["mef_ssim"]["pair"]:.4f}', file=sys.stderr)
    return rows


def real_rows(root, designs, max_side, reduced):
    """Per-triplet records of the real brackets: Table III and MEFB protocols, reversals."""
    rows = []
    for bracket in find_brackets(root):
        frames = bracket_exposures(bracket)
        times = [t for _, t in frames]
        images = [resize_max_side(read_image(p), max_side) for p, _ in frames]
        for i, j, k in select_triplets(times):
            dark, mid, bright = images[i], images[j], images[k]
            pair = Pair(dark, bright, (times[i], times[k]), times[j])
            fused = fused_designs(pair, pair.codes(pair.model_driven().output), designs, reduced)
            fused['real-middle'] = mertens_fuse([bright, mid, dark])
            log_e = pair_log_radiance(pair)
            rows.append({
                'name': f'{bracket.name} {i}-{j}-{k}',
                'table3': {m: mef_ssim([dark, mid, bright], f) for m, f in fused.items()},
                'mefb_protocol': {m: mefb.mefb_mef_ssim(dark, bright, f)
                                  for m, f in fused.items()},
                'order': {m: order_consistency(log_e, f).fraction for m, f in fused.items()}})
            print(rows[-1]['name'], file=sys.stderr)
    return rows


def means(rows, key):
    rows = [r for r in rows if key in r]
    return {m: float(np.mean([r[key][m] for r in rows])) for m in rows[0][key]} if rows else {}


def choose(summary, names):
    """The issue's rule over ``names``: max MEFB MEF-SSIM with MEFB reversals <= the
    three-frame fusion's and Table III >= the pair's; None without both data sets."""
    if not summary['mefb']['mef_ssim'] or not summary['real']['table3']:
        return None
    ok = [m for m in names
          if summary['mefb']['order'][m] <= summary['mefb']['order']['three-frame']
          and summary['real']['table3'][m] >= summary['real']['table3']['pair']]
    return max(ok, key=lambda m: summary['mefb']['mef_ssim'][m]) if ok else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root_argument(parser)
    parser.add_argument('--max-side', type=int, default=512)
    parser.add_argument('--limit', type=int, default=None, help='first N MEFB pairs only')
    parser.add_argument('--splits', type=fraction_list,
                        default=fraction_list('1/4,1/6,1/8,1/12,1/16,1/24,1/32'))
    parser.add_argument('--widths', type=fraction_list, default=fraction_list('0,1,2'))
    parser.add_argument('--pairs', type=lambda t: t.split(','), default=None,
                        help='only these MEFB pairs (comma-separated names)')
    parser.add_argument('--times-unknown', action='store_true',
                        help='ignore the MEFB files\' EXIF times (estimate every ratio)')
    parser.add_argument('--no-real', action='store_true', help='skip the real brackets')
    parser.add_argument('--reduced', action='store_true',
                        help='the middle frame at the product\'s reduced level')
    args = parser.parse_args()
    root = data_root(args.data_root)
    mefb_root, real_root = require(root, 'mefb'), require(root, 'real-brackets')
    designs = designs_of(args)
    started = time.perf_counter()
    rows = {'mefb': mefb_rows(mefb_root, designs, args.limit, args.reduced, args.pairs,
                              args.times_unknown),
            'real': [] if args.no_real else real_rows(real_root, designs, args.max_side,
                                                      args.reduced)}
    summary = {'mefb': {'mef_ssim': means(rows['mefb'], 'mef_ssim'),
                        'order': means(rows['mefb'], 'order'),
                        'pairs': len(rows['mefb']),
                        'failures': [r['name'] for r in rows['mefb'] if 'failure' in r],
                        'times': {s: sum(r.get('times') == s for r in rows['mefb'])
                                  for s in ('exif', 'estimated ratio')}},
               'real': {'table3': means(rows['real'], 'table3'),
                        'mefb_protocol': means(rows['real'], 'mefb_protocol'),
                        'order': means(rows['real'], 'order'), 'triplets': len(rows['real'])}}
    print(json.dumps({'max_side': args.max_side, 'reduced': args.reduced,
                      'times_unknown': args.times_unknown,
                      'seconds': round(time.perf_counter() - started, 1),
                      'chosen': choose(summary, [name for name, _, _ in designs]),
                      'summary': summary, 'rows': rows}, indent=1))


if __name__ == '__main__':
    main()
