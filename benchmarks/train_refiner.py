"""Train the CurveRefiner on the camera simulator and test it on real cameras it never saw (JSON).

Steps (issue 13), every one reproducible from this command:

1. ``expinterp simulate`` the training set (DoRF train curves, seed 0) and a validation set of
   the held-out DoRF curves (i % 3 == 2, seed 1) from the HDR radiance maps in
   DATA/hdr (DATA: --data-root, $EXPINTERP_DATA or ../shared/data); ``expinterp prepare``
   the shared real brackets at <= 512 px (validation during training) and <= 1024 px (the
   final test). The real brackets are never radiance sources: the simulator reads only the
   HDR folder.
2. Train ``options/refiner_sim.yml`` with BasicSR (``python -m expinterp_plugin.train``) under
   ``nice``, in a fresh process; CPU minutes are the children's user + system time.
3. Score y0 (the library default: pair-estimated CRF, linear IMF) and y0 + refiner on the real
   brackets (<= 1024 px, per triplet and per bracket) and on the held-out-DoRF simulated pairs;
   apply the shipping rule (mean gain >= 0.3 dB on the real brackets and no bracket worse than
   -0.2 dB); write the PSNR-vs-iteration curve and the refiner's CPU s/MP.

Usage: python benchmarks/train_refiner.py [--data datasets/sim] [--samples 800] [--iters N]
       [--figure docs/refiner_sim_curves.png] [--data-root DIR]
Existing data folders under --data are reused (the simulator is deterministic for its seed).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_simulate  # noqa: E402  (the refiner's forward-pass timing)
from data_root import add_data_root_argument, data_root, require  # noqa: E402
import reproduce  # noqa: E402  (the log parser and curve plot of the reproduction benchmark)

import expinterp_plugin  # noqa: E402,F401  (compat before basicsr's first import)
from expinterp_plugin.evaluation import (load_triplet_frames, make_predictor,  # noqa: E402
                                         score, triplet_pair)
from expinterp_plugin.exposure.brackets import read_triplet_layout  # noqa: E402
from expinterp_plugin.exposure.io import to_dtype  # noqa: E402
from expinterp_plugin.exposure.io import atomic_write_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ROOT / 'options' / 'refiner_sim.yml'
#: The pre-stated shipping rule of issue 13 (dB on the real shared brackets).
SHIP_MEAN_GAIN, SHIP_WORST_LOSS = 0.3, -0.2
CURVE_SETS = {'real_brackets': 'real', 'sim_heldout_dorf': 'sim'}
#: Tonal regions of the real middle frame (luminance of its 8-bit codes / 255).
REGIONS = {'shadows': (0.0, 0.2), 'midtones': (0.2, 0.8), 'highlights': (0.8, 1.01)}


def log(message):
    print(f'[train_refiner {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def child_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_niced(args, env=None, stdout=None):
    """Run a command under ``nice -n 10`` (stdout to the file ``stdout`` when given);
    (wall seconds, CPU seconds of the children)."""
    cpu, wall = child_cpu_seconds(), time.perf_counter()
    with open(stdout, 'w') if stdout else open(os.devnull, 'w') as out:
        subprocess.run(['nice', '-n', '10', *args], check=True, env=env,
                       stdout=out if stdout else None)
    return time.perf_counter() - wall, child_cpu_seconds() - cpu


def make_data(data, root, samples, val_samples, size, workers):
    """Simulated train/val sets and the prepared real brackets of the data ``root``; {name:
    cost} of what was made."""
    hdr, dorf = require(root, 'hdr'), require(root, 'crf', 'dorf_201_crf.mat')
    real = require(root, 'real-brackets')
    jobs = {
        'train': [sys.executable, '-m', 'expinterp_plugin.cli', 'simulate', str(data / 'train'),
                  '--radiance', str(hdr), '--dorf', str(dorf), '--split', 'train', '--samples',
                  str(samples), '--seed', '0', '--size', str(size), '--workers', str(workers),
                  '--json'],
        'val': [sys.executable, '-m', 'expinterp_plugin.cli', 'simulate', str(data / 'val'),
                '--radiance', str(hdr), '--dorf', str(dorf), '--split', 'val', '--samples',
                str(val_samples), '--seed', '1', '--size', str(size), '--workers', str(workers),
                '--json'],
        'real512': [sys.executable, '-m', 'expinterp_plugin.cli', 'prepare', str(real),
                    str(data / 'real512'), '--max-side', '512'],
        'real1024': [sys.executable, '-m', 'expinterp_plugin.cli', 'prepare', str(real),
                     str(data / 'real1024'), '--max-side', '1024'],
    }
    costs = {}
    for name, command in jobs.items():
        if (data / name / 'exposures.txt').is_file():
            log(f'data: reusing {data / name}')
            continue
        log(f'data: {name}')
        summary = data / f'{name}.json' if '--json' in command else None
        wall, cpu = run_niced(command, env=dict(os.environ, OMP_NUM_THREADS='1'), stdout=summary)
        costs[name] = {'wall_s': round(wall, 1), 'cpu_s': round(cpu, 1)}
    return costs


def training_options(data, iters):
    opt = yaml.safe_load(OPTIONS.read_text())
    opt['datasets']['train']['dataroot'] = str(data / 'train')
    opt['datasets']['val']['dataroot'] = str(data / 'real512')
    opt['datasets']['val_1']['dataroot'] = str(data / 'val')
    if iters:
        opt['train']['total_iter'] = iters
        opt['train']['scheduler']['milestones'] = [int(iters * 0.64), int(iters * 0.88)]
        # about 16 validation points whatever the length, so the curve costs the same share
        opt['val']['val_freq'] = opt['logger']['save_checkpoint_freq'] = max(250, iters // 16)
    return opt


def train(opt, data, threads):
    """Train in a fresh process rooted at the cwd; (experiment folder, wall s, CPU s)."""
    path = data / 'refiner_sim.yml'
    atomic_write_bytes(path, yaml.safe_dump(opt, sort_keys=False).encode())
    experiment = Path('experiments') / opt['name']
    if experiment.exists():
        raise SystemExit(f'{experiment}: exists; move it away to train again')
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    wall, cpu = run_niced([sys.executable, '-m', 'expinterp_plugin.train', '-opt', str(path)],
                          env=env)
    return experiment, wall, cpu


def score_root(root, y0, model):
    """y0 and y0 + refiner on one triplet root, in one pass (each triplet's frames read and its
    pair CRF estimated once for both): per triplet, per bracket and mean, and the PSNR pooled
    over every triplet's pixels in each tonal region of the real middle frame (REGIONS, with
    the share of pixels per region). ``y0``, ``model``: ``make_predictor`` predictors."""
    rows, sums = [], {r: {'y0': 0.0, 'refiner': 0.0, 'n': 0} for r in REGIONS}
    for triplet in read_triplet_layout(root):
        dark, gt, bright = load_triplet_frames(triplet)
        pair = triplet_pair(triplet, dark, bright, 'pair')
        luma = gt.astype(np.float64).mean(axis=2) / 255.0
        masks = {region: (luma >= lo) & (luma < hi) for region, (lo, hi) in REGIONS.items()}
        row = {'name': triplet.name}
        for name, predictor, suffix in (('y0', y0, '_y0'), ('refiner', model, '')):
            prediction = predictor(triplet, dark, bright, pair)
            row['psnr' + suffix], row['ssim' + suffix] = score(prediction, gt)
            err = (to_dtype(prediction, np.uint8).astype(np.float64) - gt) ** 2
            for region, mask in masks.items():
                sums[region][name] += float(err[mask].sum())
        for region, mask in masks.items():
            sums[region]['n'] += int(mask.sum()) * 3
        row['gain'] = row['psnr'] - row['psnr_y0']
        rows.append(row)
    rows.sort(key=lambda r: r['name'])
    keys = ('psnr_y0', 'psnr', 'ssim_y0', 'ssim', 'gain')
    brackets = {}
    for row in rows:
        brackets.setdefault(row['name'].rsplit('_', 3)[0], []).append(row)
    per_bracket = {b: {k: float(np.mean([r[k] for r in rs])) for k in keys} | {'triplets': len(rs)}
                   for b, rs in brackets.items()}
    total = sum(v['n'] for v in sums.values())
    regions = {r: {'share': round(v['n'] / total, 3),
                   **{k: round(10 * np.log10(255.0 ** 2 / max(v[k] / max(v['n'], 1), 1e-12)), 3)
                      for k in ('y0', 'refiner')}} for r, v in sums.items()}
    return {'root': str(root), 'count': len(rows),
            'mean': {k: float(np.mean([r[k] for r in rows])) for k in keys},
            'brackets': per_bracket, 'triplets': rows}, regions


def seconds_per_megapixel(threads):
    """CPU seconds per megapixel of network_g's forward pass (bench_simulate's measurement)."""
    return bench_simulate.refiner_speed(threads, repeat=3, clock=time.process_time)


def parameter_count(opt):
    from basicsr.archs import build_network
    return sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters())


def curve_series(curves, y0_curves):
    series = {}
    for key, label in CURVE_SETS.items():
        points = curves[key]['psnr']
        series[label] = {'iters': [i for i, _ in points], 'mean': [v for _, v in points],
                         'min': [v for _, v in points], 'max': [v for _, v in points],
                         'seeds': 1, 'y0': None}
        series[label + ' y0'] = {'iters': [i for i, _ in y0_curves[key]],
                                 'mean': [v for _, v in y0_curves[key]],
                                 'min': [v for _, v in y0_curves[key]],
                                 'max': [v for _, v in y0_curves[key]], 'seeds': 1, 'y0': None}
    return series


def draw(curves, path):
    """PSNR vs iteration on both validation sets, the y0 level of each as a flat line."""
    y0 = {k: [(i, curves[k]['psnr_y0'][-1][1]) for i, _ in curves[k]['psnr']] for k in CURVE_SETS}
    reproduce.CURVE_COLOURS.update({'real': (214, 39, 40), 'real y0': (240, 160, 160),
                                    'sim': (31, 119, 180), 'sim y0': (160, 190, 230)})
    reproduce.draw_curves(curve_series(curves, y0), 'CurveRefiner: validation PSNR on the real '
                          'brackets (<= 512 px) and on sim pairs of held-out DoRF curves', path)


def ship_decision(real):
    worst = min(b['gain'] for b in real['brackets'].values())
    ships = real['mean']['gain'] >= SHIP_MEAN_GAIN and worst >= SHIP_WORST_LOSS
    return {'ships': bool(ships), 'mean_gain_db': round(real['mean']['gain'], 3),
            'worst_bracket_gain_db': round(worst, 3),
            'triplets_below_-0.2_db': sum(r['gain'] < SHIP_WORST_LOSS for r in real['triplets']),
            'rule': f'mean gain >= {SHIP_MEAN_GAIN} dB and no bracket below {SHIP_WORST_LOSS} dB'}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='datasets/sim', type=Path)
    add_data_root_argument(parser)
    parser.add_argument('--samples', type=int, default=800)
    parser.add_argument('--val-samples', type=int, default=64)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2, help='torch threads of the training')
    parser.add_argument('--iters', type=int, help='override total_iter (milestones scale)')
    parser.add_argument('--figure', default='docs/refiner_sim_curves.png')
    parser.add_argument('--json', dest='json_out', default='results/refiner_sim.json')
    parser.add_argument('--eval-only', action='store_true',
                        help='score the finished experiment again (costs from the --json file)')
    args = parser.parse_args()
    root = data_root(args.data_root)
    require(root, 'hdr')
    opt = training_options(args.data, args.iters)
    if args.eval_only:
        previous = json.loads(Path(args.json_out).read_text())
        data_costs = previous['data_costs']
        experiment = Path('experiments') / opt['name']
        wall, cpu = previous['train_wall_min'] * 60, previous['train_cpu_min'] * 60
    else:
        data_costs = make_data(args.data, root, args.samples, args.val_samples,
                               args.size, args.workers)
        log(f'training {opt["train"]["total_iter"]} iterations')
        experiment, wall, cpu = train(opt, args.data, args.threads)
    ckpt = experiment / 'models' / 'net_g_latest.pth'
    log_file = max(experiment.glob(f'train_{opt["name"]}_*.log'))
    curves = reproduce.parse_validation_log(log_file.read_text())
    log('evaluating y0 and the refiner')
    y0 = make_predictor('imf-linear')
    model = make_predictor(f'model:{ckpt}', opt=args.data / 'refiner_sim.yml')
    real, real_regions = score_root(args.data / 'real1024', y0, model)
    heldout, heldout_regions = score_root(args.data / 'val', y0, model)
    regions = {'real_1024': real_regions, 'heldout_dorf': heldout_regions}
    s_per_mp, params = seconds_per_megapixel(threads=1), parameter_count(opt)
    draw(curves, args.figure)
    summaries = {k: json.loads((args.data / f'{k}.json').read_text())
                 for k in ('train', 'val') if (args.data / f'{k}.json').is_file()}
    report = {'checkpoint': str(ckpt), 'params': params, 'iterations': opt['train']['total_iter'],
              'train_wall_min': round(wall / 60, 2), 'train_cpu_min': round(cpu / 60, 2),
              'data_costs': data_costs, 'simulate_summaries': summaries,
              's_per_mp_cpu_1_thread': round(s_per_mp, 3), 'real_1024': real,
              'heldout_dorf': heldout, 'regions': regions, 'curves': curves,
              'decision': ship_decision(real)}
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.json_out, json.dumps(report, indent=1).encode())
    print(json.dumps({k: report[k] for k in ('params', 'iterations', 'train_wall_min',
                                              'train_cpu_min', 's_per_mp_cpu_1_thread',
                                              'decision')} |
                     {'real_mean': real['mean'], 'real_brackets': real['brackets'],
                      'heldout_mean': heldout['mean'], 'regions': regions}, indent=1))


if __name__ == '__main__':
    main()
