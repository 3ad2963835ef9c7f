"""Toy-scale reproduction of the paper's Tables I-III and convergence curves, on CPU.

Zheng, Li, Wu, "Exposure Interpolation by Combining Model-driven and Data-driven Methods":
Table I (y0 with the double-sigmoid vs the linear-interpolation IMF), Table II (hybrid with
each loss, the direct deep baseline; here also the conditioned hybrid of docs/design.md,
"Network-input modes"), Table III (MEF-SSIM of Mertens on the pair vs fusion with the interpolated frame), and the
PSNR-vs-iteration curves of hybrid, conditioned and direct (mean and min-max over seeds).

Usage (from the repository root):
    python benchmarks/reproduce.py --quick     # ~5-8 min on 2 CPU cores, 2 seeds, 300 iters
    python benchmarks/reproduce.py             # fuller: 3 seeds, 2000 iters (~30 min, 2 cores)
    python benchmarks/reproduce.py --smoke     # ~1-2 min: 2 models, 20 iterations (tests)
    python benchmarks/reproduce.py --data-only # only the data, for options/repro/*.yml by hand
Options: --out DIR (results/repro), --data DIR (datasets/repro), --real DIR (the real brackets,
default DATA/real-brackets with DATA from --data-root, $EXPINTERP_DATA or ../shared/data:
data_root.py), --test-bracket NAME, --train-brackets NAMES, --minc-weights PATH, --seeds N,
--iters N, --val-freq N, --jobs N, --overwrite.

Data (made with the project's own commands):
- ``expinterp synth``: procedural scenes with a known CRF (crf/NAME.npy); train and val splits;
- ``expinterp prepare`` of the shared real brackets at --max-side 512: every bracket except
  ``--test-bracket`` (default ntu_a6400_scene3, 6 triplets of a Sony A6400 JPEG sequence), or
  those named by ``--train-brackets``, is cut into 128 px sub-images for training; the held-out
  bracket is the real test set. The CRF of each real triplet is estimated from its dark/bright
  pair only.
- DATA/train = synthetic train + real training crops (symbolic links), DATA/val_synth,
  DATA/test_real. Without the shared brackets the real parts are skipped.

Training: each configuration of options/repro/ (and seed) runs BasicSR's own
``basicsr.train.train_pipeline`` in a fresh process (it opens its log file once per process),
rooted at OUT/runs/NAME_sSEED, with the schedule of the chosen mode. Validation PSNR, logged by
BasicSR every ``val_freq`` iterations, gives the curves. The final ``net_g_latest.pth`` of each
run is scored with ``expinterp_plugin.evaluation`` (model:CKPT, the dataset's CRF tables, the
fusion columns). The MINC feature loss rows run only with --minc-weights (nothing downloads).

Output: JSON on stdout (also OUT/report.json), the Markdown tables on stderr and in
OUT/report.md, curves as OUT/curves_<val set>.png.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from data_root import add_data_root_argument, data_root, require

from expinterp_plugin.evaluation import FUSION_COLUMNS, evaluate
from expinterp_plugin.figures import LIGHT, Axes, blank_canvas
from expinterp_plugin.exposure.io import atomic_directory, atomic_write_bytes, write_image

REPO = Path(__file__).resolve().parents[1]
OPTIONS = REPO / 'options' / 'repro'
DEFAULT_TEST_BRACKET = 'ntu_a6400_scene3'

#: name -> (option file stem, Table II row, trained with several seeds for the curves, needs MINC)
CONFIGS = {
    'hybrid_l1': ('hybrid, L1', False, False),
    'hybrid_l2': ('hybrid, L2', False, False),
    'hybrid_psi': ('hybrid, psi', False, False),
    'hybrid_psi_color': ('hybrid, psi + Lc', True, False),
    'hybrid_psi_minc': ('hybrid, psi + Lf', False, True),
    'hybrid_full': ('hybrid, full loss', False, True),
    'conditioned': ('conditioned hybrid, psi + Lc', True, False),
    'direct': ('direct, psi + Lc', True, False),
}
CURVE_LABELS = {'hybrid_psi_color': 'hybrid', 'conditioned': 'conditioned', 'direct': 'direct'}
SMOKE_CONFIGS = ('hybrid_psi_color', 'direct')

#: Settings of each mode: data sizes, schedule and seeds (the curve configurations get
#: ``seeds`` seeds, the others one).
PROFILES = {
    'smoke': dict(synth_scenes=6, val_scenes=2, synth_size='64x64', real_max_side=160,
                  real_crop=64, iters=20, val_freq=10, seeds=1, gt_size=32, batch=4),
    'quick': dict(synth_scenes=16, val_scenes=4, synth_size='128x128', real_max_side=512,
                  real_crop=128, iters=300, val_freq=50, seeds=2, gt_size=48, batch=8),
    'full': dict(synth_scenes=48, val_scenes=8, synth_size='192x192', real_max_side=512,
                 real_crop=128, iters=2000, val_freq=200, seeds=3, gt_size=64, batch=8),
}
TRAIN_CODE = ('import os, expinterp_plugin; from basicsr.train import train_pipeline; '
              'train_pipeline(os.getcwd())')
FRAME_FOLDERS = ('low', 'mid', 'high', 'crf')


def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def run_cli(*args):
    """``expinterp ARGS --json`` in a subprocess; returns its JSON summary."""
    done = subprocess.run([sys.executable, '-m', 'expinterp_plugin', *map(str, args), '--json'],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f'expinterp {" ".join(map(str, args))} failed:\n{done.stderr[-2000:]}')
    return json.loads(done.stdout)


def link_brackets(real, names, dst):
    """A folder of symbolic links to the bracket folders ``names`` of ``real`` (no copies)."""
    dst.mkdir(parents=True)
    for name in names:
        (dst / name).symlink_to((real / name).resolve(), target_is_directory=True)
    return dst


def link_relative(link, target):
    """A symbolic link whose target is relative, so a folder of such links can be moved."""
    link.symlink_to(os.path.relpath(target, link.parent))


def merge_layouts(sources, dst):
    """Triplet layout at ``dst`` holding every scene of ``sources`` as symbolic links."""
    lines = []
    for src in sources:
        for folder in FRAME_FOLDERS:
            if not (src / folder).is_dir():
                continue
            (dst / folder).mkdir(parents=True, exist_ok=True)
            for path in sorted((src / folder).iterdir()):
                link = dst / folder / path.name
                if link.exists():
                    raise FileExistsError(f'{link}: two training sources share a scene name')
                link_relative(link, path)
        lines += [line for line in (src / 'exposures.txt').read_text().splitlines()
                  if line.strip() and not line.startswith('#')]
    (dst / 'exposures.txt').write_text('\n'.join(lines) + '\n')
    return len(lines)


def real_bracket_names(real):
    return sorted(d.name for d in real.iterdir() if d.is_dir()) if real.is_dir() else []


def make_data(data, profile, real, test_bracket, train_brackets=None, overwrite=False):
    """Synthetic + real data under ``data``; returns its settings and summary.

    train_brackets: real brackets added to the training set (default: all but test_bracket).

    Data made earlier with the same settings (``data/settings.json``) is reused; data made here
    with other settings is replaced only when ``overwrite``. The folder is assembled beside
    ``data`` and renamed into place, so an interrupted run leaves nothing half-made.
    """
    brackets = real_bracket_names(real)
    settings = {k: profile[k] for k in ('synth_scenes', 'val_scenes', 'synth_size',
                                         'real_max_side', 'real_crop')}
    if brackets and test_bracket not in brackets:
        raise SystemExit(f'--test-bracket {test_bracket}: not one of {", ".join(brackets)}')
    if train_brackets is None:
        train_brackets = [b for b in brackets if b != test_bracket]
    wrong = [b for b in train_brackets if b not in brackets or b == test_bracket]
    if wrong:
        raise SystemExit(f'--train-brackets {",".join(wrong)}: not real brackets other than '
                         f'the test bracket ({", ".join(brackets) or "none found"})')
    settings.update(real=str(real) if brackets else None, test_bracket=test_bracket,
                    train_brackets=train_brackets if brackets else [])
    stamp = data / 'settings.json'
    if stamp.is_file() and json.loads(stamp.read_text()).get('settings') == settings:
        log(f'data: reusing {data}')
        return json.loads(stamp.read_text())
    if data.exists() and any(data.iterdir()) and not (overwrite and stamp.is_file()):
        raise SystemExit(f'{data}: holds other data (settings differ or not made here); '
                         'use --overwrite (for data made here) or another --data')
    with atomic_directory(data) as tmp:
        summary = write_data(tmp, profile, real, settings['train_brackets'],
                             test_bracket if brackets else None)
        report = {'settings': settings, 'summary': summary}
        (tmp / 'settings.json').write_text(json.dumps(report, indent=2))
    return report


def write_data(dst, profile, real, train_brackets, test_bracket):
    """synth/, real_train/ (crops), test_real/, train/ (links to both) and val_synth/ (a link)
    under ``dst``; returns counts. Without a test bracket no real data is made."""
    log(f'data: synthetic brackets -> {dst / "synth"}')
    synth = run_cli('synth', dst / 'synth', '--scenes', profile['synth_scenes'],
                    '--val-scenes', profile['val_scenes'], '--size', profile['synth_size'],
                    '--seed', 0)
    summary = {'synth_train': synth['splits']['train']['scenes'],
               'synth_val': synth['splits']['val']['scenes']}
    sources = [dst / 'synth' / 'train']
    if test_bracket:
        log(f'data: real brackets, train on {", ".join(train_brackets) or "none"}, test on '
            f'{test_bracket}')
        side = profile['real_max_side']
        test = run_cli('prepare', link_brackets(real, [test_bracket], dst / 'real_src' / 'test'),
                       dst / 'test_real', '--max-side', side)
        summary.update(test_bracket=test_bracket, real_test_triplets=test['triplets'],
                       real_train_brackets=train_brackets)
    if test_bracket and train_brackets:
        train = run_cli('prepare', link_brackets(real, train_brackets, dst / 'real_src' / 'train'),
                        dst / 'real_train', '--max-side', side, '--crop', profile['real_crop'])
        sources.append(dst / 'real_train')
        summary.update(real_train_triplets=train['triplets'], real_train_crops=train['samples'])
    summary['train_samples'] = merge_layouts(sources, dst / 'train')
    link_relative(dst / 'val_synth', dst / 'synth' / 'val')
    return summary


def eval_sets(data):
    """{val set name: root} of the data actually present."""
    sets = {'synth_val': data / 'val_synth'}
    if (data / 'test_real' / 'exposures.txt').is_file():
        sets['real_test'] = data / 'test_real'
    return sets


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def run_options(config, seed, profile, data, sets, minc_weights):
    """The option dict of one training run: options/repro/CONFIG.yml with this run's data,
    seed and schedule."""
    opt = yaml.safe_load((OPTIONS / f'{config}.yml').read_text())
    name = f'{config}_s{seed}'
    opt.update(name=name, manual_seed=seed, num_gpu=0)
    train = opt['datasets']['train']
    train.update(dataroot=str((data / 'train').resolve()), gt_size=profile['gt_size'],
                 batch_size_per_gpu=profile['batch'])
    mode = train['mode']
    opt['datasets'] = {'train': train}
    for key, (set_name, root) in zip(('val', 'val_2'), sets.items()):
        opt['datasets'][key] = {'name': set_name, 'type': 'ExposureTripletDataset',
                                'dataroot': str(root.resolve()), 'io_backend': {'type': 'disk'},
                                'mode': mode}
    iters = profile['iters']
    opt['train'].update(total_iter=iters, scheduler={'type': 'MultiStepLR',
                                                     'milestones': [int(iters * 0.75)],
                                                     'gamma': 0.5})
    if 'perceptual_opt' in opt['train']:
        opt['train']['perceptual_opt']['weights_path'] = str(Path(minc_weights).resolve())
    opt['val']['val_freq'] = profile['val_freq']
    # an iteration line right before each validation block dates it in the log
    opt['logger'].update(print_freq=profile['val_freq'], save_checkpoint_freq=iters,
                         use_tb_logger=False)
    return opt


def train_run(opt, runs, threads):
    """BasicSR's train_pipeline in its own process, rooted at RUNS/NAME; returns run facts."""
    root = runs / opt['name']
    root.mkdir(parents=True)
    option_file = root / 'train.yml'
    option_file.write_text(yaml.safe_dump(opt, sort_keys=False))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO), env.get('PYTHONPATH')]))
    started = time.perf_counter()
    with open(root / 'output.txt', 'w') as out:
        done = subprocess.run([sys.executable, '-c', TRAIN_CODE, '-opt', str(option_file)],
                              cwd=root, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode:
        tail = (root / 'output.txt').read_text()[-3000:]
        raise RuntimeError(f'training {opt["name"]} failed (exit {done.returncode}):\n{tail}')
    experiment = root / 'experiments' / opt['name']
    log_file = max(experiment.glob(f'train_{opt["name"]}_*.log'))
    return {'name': opt['name'], 'option_file': str(option_file), 'seconds': round(seconds, 1),
            'checkpoint': str(experiment / 'models' / 'net_g_latest.pth'),
            'curves': parse_validation_log(log_file.read_text())}


_ITER = re.compile(r'\biter:\s*([\d,]+)')
_VALIDATION = re.compile(r'Validation (\S+)')
_METRIC = re.compile(r'^\s*# (\w+): (\S+)')


def parse_validation_log(text):
    """{val set: {metric: [(iteration, value), ...]}} from a BasicSR training log.

    A validation block is dated by the last iteration line before it (print_freq divides
    val_freq in these runs); the extra validation BasicSR runs after 'End of training' repeats
    the last one and is skipped.
    """
    curves, current, block = {}, 0, None
    for line in text.splitlines():
        if 'End of training' in line:
            break
        if (m := _VALIDATION.search(line)):
            block = curves.setdefault(m.group(1), {})
            continue
        if block is not None and (m := _METRIC.match(line)):
            block.setdefault(m.group(1), []).append((current, float(m.group(2))))
            continue
        block = None
        if (m := _ITER.search(line)):
            current = int(m.group(1).replace(',', ''))
    return curves


def parameter_count(opt):
    from basicsr.archs import build_network
    return sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters())


# ----------------------------------------------------------------------------------------------
# Evaluation and tables
# ----------------------------------------------------------------------------------------------

def stats(values):
    """{'mean', 'sd' (population), 'values'} of per-seed figures."""
    values = [float(v) for v in values]
    return {'mean': float(np.mean(values)), 'sd': float(np.std(values)), 'values': values}


def evaluate_set(root, method, fusion, opt=None, columns=FUSION_COLUMNS):
    """``evaluation.evaluate`` with each scene's CRF table (the one its y0 was trained with)."""
    return evaluate(root, method, crf='dataset', fusion=fusion, opt=opt, fusion_columns=columns)


def table1(sets):
    """Rows: y0 with each IMF (and two model-free references) on every evaluation set."""
    rows, y0_fusion = [], {}
    plan = [('y0, double-sigmoid IMF', 'imf-sigmoid'), ('y0, linear-interpolation IMF',
                                                         'imf-linear'),
            ('geometric mean sqrt(dark * bright)', 'geomean'),
            ('2018 virtual image', 'virtual2018')]
    for label, method in plan:
        row = {'row': label, 'method': method}
        for set_name, root in sets.items():
            try:
                result = evaluate_set(root, method, fusion=method == 'imf-linear')
            except (RuntimeError, ValueError) as err:
                row[set_name] = {'error': str(err)}
                continue
            row[set_name] = {k: result['mean'][k] for k in ('psnr', 'ssim')}
            if method == 'imf-linear':
                y0_fusion[set_name] = result['mean']['mef_ssim']
        rows.append(row)
    return rows, y0_fusion


def evaluate_runs(runs_by_config, sets):
    """Per config: {set: {'psnr', 'ssim', 'mef_ssim'} stats over seeds}."""
    scores = {}
    for config, runs in runs_by_config.items():
        per_set = {}
        for set_name, root in sets.items():
            # the pair, 2018 virtual and real-mid fusions do not depend on the model (Table I)
            means = [evaluate_set(root, f'model:{r["checkpoint"]}', True, r['option_file'],
                                  ('with_method',))['mean'] for r in runs]
            per_set[set_name] = {
                'psnr': stats([m['psnr'] for m in means]),
                'ssim': stats([m['ssim'] for m in means]),
                'mef_ssim': stats([m['mef_ssim']['with_method'] for m in means]),
                # BasicSR's own last validation: a cross-check of the evaluation above
                'logged_psnr': stats([r['curves'][set_name]['psnr'][-1][1] for r in runs]),
            }
        scores[config] = per_set
    return scores


def table2(configs_status, scores, params, table1_rows, sets):
    y0 = next(r for r in table1_rows if r['method'] == 'imf-linear')
    rows = [{'row': 'y0 (linear IMF)', 'status': 'model-driven', 'params': 0, 'seeds': 0,
             **{s: {k: stats([y0[s][k]]) for k in ('psnr', 'ssim')} for s in sets
                if 'error' not in y0[s]}}]
    for config, (label, _, _) in CONFIGS.items():
        row = {'row': label, 'config': config, 'status': configs_status[config]}
        if config in scores:
            row.update(params=params[config], seeds=len(scores[config][next(iter(sets))]
                                                         ['psnr']['values']))
            for set_name in sets:
                row[set_name] = {k: scores[config][set_name][k] for k in ('psnr', 'ssim',
                                                                         'logged_psnr')}
        rows.append(row)
    return rows


def table3(y0_fusion, scores, sets):
    """MEF-SSIM rows: Mertens on the pair, fusion with y0 / 2018 virtual / each model / real mid."""
    def constant(column):
        return {s: stats([y0_fusion[s][column]]) for s in sets if s in y0_fusion}
    rows = [{'row': 'Mertens on the pair (dark, bright)', **constant('pair')},
            {'row': '+ y0 (linear IMF)', **constant('with_method')},
            {'row': '+ 2018 virtual image', **constant('with_virtual2018')}]
    for config, per_set in scores.items():
        rows.append({'row': f'+ {CONFIGS[config][0]}',
                     **{s: per_set[s]['mef_ssim'] for s in sets}})
    rows.append({'row': '+ real middle frame (ceiling)', **constant('ceiling')})
    return rows


def fmt(entry, key=None, digits=4):
    if entry is None:
        return '-'
    if 'error' in entry:
        return 'failed'
    value = entry[key] if key else entry
    if isinstance(value, dict):
        text = f'{value["mean"]:.{digits}f}'
        return text + (f' ± {value["sd"]:.{digits}f}' if len(value['values']) > 1 else '')
    return f'{value:.{digits}f}'


def markdown_tables(report, sets):
    heads = {'synth_val': 'synthetic val', 'real_test': 'real test'}
    out = ['### Table I: y0, IMF by double sigmoid vs linear interpolation (PSNR dB / SSIM)', '',
           '| method | ' + ' | '.join(f'{heads[s]} PSNR | {heads[s]} SSIM' for s in sets) + ' |',
           '|---|' + '---|---|' * len(sets)]
    for row in report['table1']:
        out.append(f'| {row["row"]} | ' + ' | '.join(
            f'{fmt(row.get(s), "psnr", 2)} | {fmt(row.get(s), "ssim")}' for s in sets) + ' |')
    out += ['', '### Table II: models (mean ± sd over seeds)', '',
            '| model | status | params | seeds | ' + ' | '.join(
                f'{heads[s]} PSNR | {heads[s]} SSIM' for s in sets) + ' |',
            '|---|---|---|---|' + '---|---|' * len(sets)]
    for row in report['table2']:
        out.append(f'| {row["row"]} | {row["status"]} | {row.get("params", "-")} | '
                   f'{row.get("seeds", "-")} | ' + ' | '.join(
                       f'{fmt(row.get(s), "psnr", 2)} | {fmt(row.get(s), "ssim")}'
                       for s in sets) + ' |')
    out += ['', '### Table III: MEF-SSIM of Mertens fusion against the real exposures', '',
            '| fusion | ' + ' | '.join(heads[s] for s in sets) + ' |', '|---|' + '---|' * len(sets)]
    for row in report['table3']:
        out.append(f'| {row["row"]} | ' + ' | '.join(fmt(row.get(s)) for s in sets) + ' |')
    return '\n'.join(out) + '\n'


# ----------------------------------------------------------------------------------------------
# Curves (drawn with expinterp_plugin.figures: matplotlib is not a dependency)
# ----------------------------------------------------------------------------------------------

CURVE_COLOURS = {'hybrid': (31, 119, 180), 'conditioned': (44, 160, 44),
                 'direct': (214, 39, 40)}  # RGB


def curve_series(runs_by_config, set_name):
    """{label: {'iters', 'mean', 'min', 'max', 'seeds', 'y0'}} of the curve configurations."""
    series = {}
    for config, label in CURVE_LABELS.items():
        runs = runs_by_config.get(config)
        if not runs:
            continue
        per_seed = [dict(r['curves'][set_name]['psnr']) for r in runs]
        iters = sorted(set.intersection(*(set(p) for p in per_seed)))
        values = np.array([[p[i] for i in iters] for p in per_seed])
        y0 = runs[0]['curves'][set_name].get('psnr_y0')
        series[label] = {'iters': iters, 'mean': values.mean(0).tolist(),
                         'min': values.min(0).tolist(), 'max': values.max(0).tolist(),
                         'seeds': len(runs), 'y0': y0[-1][1] if y0 else None}
    return series


def draw_curves(series, title, path, size=(960, 600)):
    """PSNR vs iteration: mean line and min-max band per label, y0 dashed; RGB PNG at path."""
    width, height = size
    left, right, top, bottom = 80, 180, 50, 60
    canvas = blank_canvas((height, width), LIGHT)
    all_iters = [i for s in series.values() for i in s['iters']]
    all_values = [v for s in series.values() for v in s['min'] + s['max'] +
                  ([s['y0']] if s['y0'] is not None else [])]
    y_lo, y_hi = min(all_values), max(all_values)
    pad = max(0.2, 0.05 * (y_hi - y_lo))
    axes = Axes(canvas, (left, top, width - left - right, height - top - bottom),
                (0.0, float(max(all_iters + [1]))), (y_lo - pad, y_hi + pad), LIGHT)
    axes.frame(title, 'iteration', 'PSNR (dB)')
    entries = []
    for label, s in series.items():
        colour = CURVE_COLOURS[label]
        axes.band(s['iters'], s['min'], s['max'], colour)
        axes.curve(s['iters'], s['mean'], colour)
        entries.append((f'{label} ({s["seeds"]} seed' + ('s)' if s['seeds'] > 1 else ')'),
                        colour, False))
    y0 = next((s['y0'] for s in series.values() if s['y0'] is not None), None)
    if y0 is not None:
        axes.level(y0, LIGHT.text)
        entries.append(('y0', LIGHT.text, True))
    axes.key(entries, (width - right + 15, top + 20))
    write_image(path, canvas)


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--quick', action='store_true', help='2 seeds, 300 iterations, 128 px')
    mode.add_argument('--smoke', action='store_true', help='2 models, 20 iterations (tests)')
    parser.add_argument('--out', default='results/repro', help='runs and report folder')
    parser.add_argument('--data', help='data folder (default datasets/repro; reused when its '
                        'settings match)')
    parser.add_argument('--real', help='folder of real bracket folders (default: '
                        'DATA/real-brackets, skipped when absent)')
    add_data_root_argument(parser)
    parser.add_argument('--test-bracket', default=DEFAULT_TEST_BRACKET,
                        help='real bracket held out for testing (default ntu_a6400_scene3)')
    parser.add_argument('--train-brackets', metavar='NAMES',
                        help='comma-separated real brackets added to the training set '
                        '(default: all but --test-bracket; an empty string for none)')
    parser.add_argument('--minc-weights', help='MINC VGG-16 state dict (expinterp convert-minc) '
                        'for the L_f rows; without it they are skipped')
    parser.add_argument('--seeds', type=int, help='seeds of the curve models (mode default)')
    parser.add_argument('--iters', type=int, help='training iterations (mode default)')
    parser.add_argument('--val-freq', type=int,
                        help='validation (curve point) every N iterations (mode default)')
    parser.add_argument('--jobs', type=int, default=min(os.cpu_count() or 1, 8),
                        help='training runs in parallel (default: CPU count, at most 8)')
    parser.add_argument('--data-only', action='store_true', help='make the data and stop')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace earlier runs in --out (and data made with other settings)')
    return parser.parse_args(argv)


def prepare_out(out, overwrite):
    products = [out / 'runs', out / 'report.json', out / 'report.md',
                *out.glob('curves_*.png')]
    if any(p.exists() for p in products):
        if not overwrite:
            raise SystemExit(f'{out}: holds an earlier reproduction; use --overwrite')
        for p in products:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def plan_runs(profile, smoke, minc_weights):
    """[(config, seed)] to train and {config: status} for every Table II row."""
    plan, status = [], {}
    for config, (_, curve, needs_minc) in CONFIGS.items():
        if needs_minc and not minc_weights:
            status[config] = 'skipped: no MINC weights'
        elif smoke and config not in SMOKE_CONFIGS:
            status[config] = 'skipped: --smoke trains 2 models'
        else:
            status[config] = 'trained'
            plan += [(config, seed) for seed in range(profile['seeds'] if curve else 1)]
    return plan, status


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    mode = 'smoke' if args.smoke else 'quick' if args.quick else 'full'
    profile = dict(PROFILES[mode])
    profile.update({k: v for k, v in (('seeds', args.seeds), ('iters', args.iters),
                                      ('val_freq', args.val_freq)) if v})
    if args.minc_weights and not Path(args.minc_weights).is_file():
        raise SystemExit(f'--minc-weights {args.minc_weights}: no such file')
    out = Path(args.out).resolve()
    data = Path(args.data or 'datasets/repro').resolve()
    train_brackets = None if args.train_brackets is None else \
        [b for b in args.train_brackets.split(',') if b]
    # Named folders must exist; the default one is optional (the real parts are skipped).
    real = require(args.real or args.data_root / 'real-brackets') \
        if args.real or args.data_root else data_root() / 'real-brackets'
    data_report = make_data(data, profile, real, args.test_bracket, train_brackets,
                            args.overwrite)
    if args.data_only:
        print(json.dumps(data_report, indent=2))
        return 0
    prepare_out(out, args.overwrite)
    sets = eval_sets(data)
    plan, status = plan_runs(profile, args.smoke, args.minc_weights)
    jobs = max(1, min(args.jobs, len(plan)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    options = [run_options(c, s, profile, data, sets, args.minc_weights) for c, s in plan]
    log(f'training {len(plan)} runs ({mode}: {profile["iters"]} iterations), {jobs} at a time')
    train_started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        finished = list(pool.map(lambda o: train_run(o, out / 'runs', threads), options))
    train_seconds = time.perf_counter() - train_started
    runs_by_config = {}
    for (config, _), run in zip(plan, finished):
        runs_by_config.setdefault(config, []).append(run)
        log(f'  {run["name"]}: {run["seconds"]} s')
    params = {c: parameter_count(options[[p[0] for p in plan].index(c)]) for c in runs_by_config}

    log('evaluating y0 and the trained models')
    rows1, y0_fusion = table1(sets)
    scores = evaluate_runs(runs_by_config, sets)
    report = {
        'mode': mode, 'profile': profile, 'data': data_report,
        'table1': rows1, 'table2': table2(status, scores, params, rows1, sets),
        'table3': table3(y0_fusion, scores, sets),
        'curves': {s: curve_series(runs_by_config, s) for s in sets},
        'runs': [{k: r[k] for k in ('name', 'seconds', 'checkpoint')} for r in finished],
    }
    for set_name, series in report['curves'].items():
        if series:
            seeds = max(s['seeds'] for s in series.values())
            draw_curves(series, f'validation PSNR on {set_name} (mean, min-max over {seeds} '
                        'seeds)', out / f'curves_{set_name}.png')
    report['seconds'] = {'train': round(train_seconds, 1),
                         'total': round(time.perf_counter() - started, 1)}
    markdown = markdown_tables(report, sets)
    atomic_write_bytes(out / 'report.md', markdown.encode())
    atomic_write_bytes(out / 'report.json', json.dumps(report, indent=2).encode())
    log(markdown)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
