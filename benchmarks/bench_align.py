"""Cost of alignment + motion mask in `expinterp fuse` on a 24 MP handheld pair (JSON).

A real bracket pair (data root: --data-root, $EXPINTERP_DATA or ../shared/data) is resized to
6000 x 4000 and its bright frame warped by a small similarity (24 px, -10 px, 0.2 degree), the
two written as PNGs to a temporary folder. `expinterp fuse` then runs in fresh child processes,
one case after the other, --repeats times each: with `--align off --deghost off` and with the
defaults. Reported: median wall time of each, their difference (target <= +1.5 s), and the
ratio of their peak resident sets (VmHWM of the child, as benchmarks/bench_fuse.py measures it;
target <= +10 %), with the alignment and motion records of the default run.

Usage: python benchmarks/bench_align.py [--data-root DIR] [--repeats 2] [--threads 2]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import expinterp_json, peak_rss_kb  # noqa: E402
from data_root import data_root, require  # noqa: E402

CASES = {'off': ['--align', 'off', '--deghost', 'off'], 'default': []}


def make_pair(root, folder):
    """dark.png and bright.png (6000 x 4000, bright moved) in ``folder``; their times."""
    import cv2
    from expinterp_plugin.exposure.brackets import bracket_exposures
    from expinterp_plugin.exposure.io import read_image, write_image
    frames = bracket_exposures(require(root, 'real-brackets') / 'canon_s45_exposures')
    (dark_path, t_dark), (bright_path, t_bright) = frames[7], frames[12]
    dark, bright = (cv2.resize(read_image(p), (6000, 4000), interpolation=cv2.INTER_CUBIC)
                    for p in (dark_path, bright_path))
    rotation = cv2.getRotationMatrix2D((3000, 2000), 0.2, 1.0)
    rotation[:, 2] += (24, -10)
    bright = cv2.warpAffine(bright, rotation, (6000, 4000), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    write_image(folder / 'dark.png', dark)
    write_image(folder / 'bright.png', bright)
    return t_dark, t_bright


def child(argv, threads):
    """`expinterp ARGV --json` in this process; prints wall time, peak RSS and the record."""
    import cv2
    cv2.setNumThreads(threads)
    seconds, summary = expinterp_json(argv)
    record = summary['pairs'][0]
    print(json.dumps({'seconds': seconds, 'peak_rss_mb': peak_rss_kb() / 1024,
                      'alignment': record.get('alignment'), 'motion': record.get('motion')}))


def run_child(argv, threads):
    done = subprocess.run([sys.executable, __file__, '--child', json.dumps(argv),
                           '--threads', str(threads)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'fuse {argv} failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--child')
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child), args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t_dark, t_bright = make_pair(data_root(args.data_root), folder)
        base = ['fuse', str(folder / 'dark.png'), str(folder / 'bright.png'), '-o',
                str(folder / 'fused.png'), '--times', str(t_dark), str(t_bright), '-q']
        runs = {name: [] for name in CASES}
        for _ in range(args.repeats):
            for name, extra in CASES.items():  # side by side: drift hits both alike
                runs[name].append(run_child(base + extra, args.threads))
    seconds = {n: statistics.median(r['seconds'] for r in runs[n]) for n in CASES}
    rss = {n: max(r['peak_rss_mb'] for r in runs[n]) for n in CASES}
    print(json.dumps({
        'size': [6000, 4000], 'threads': args.threads, 'repeats': args.repeats,
        'seconds': {n: round(v, 2) for n, v in seconds.items()},
        'added_seconds': round(seconds['default'] - seconds['off'], 2),
        'peak_rss_mb': {n: round(v, 1) for n, v in rss.items()},
        'peak_rss_ratio': round(rss['default'] / rss['off'], 3),
        'targets': {'added_seconds': 1.5, 'peak_rss_ratio': 1.1},
        'alignment': runs['default'][0]['alignment'], 'motion': runs['default'][0]['motion']},
        indent=1))


if __name__ == '__main__':
    main()
