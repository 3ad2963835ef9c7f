"""Cost of `expinterp fuse` on large photos: seconds per megapixel and peak memory, on CPU.

Prints one JSON object. Every case runs `expinterp fuse` end to end (read, CRF estimate from the
pair, y0, network, Mertens fusion, atomic write) in a fresh child process, which reports its
own peak RSS (VmHWM, see ``peak_rss_kb``) and the command's wall time, so the cases are
measured side by side in one run and do not share memory:

  model:        --model with a default-size DenoiseNet (options/hybrid.yml's network_g, random
                weights saved as a BasicSR checkpoint in a temporary experiment folder), tiled
                (--tile, --tile-pad), on a --crop of a real bracket (>= 2 MP by default);
  imf_only:     --imf-only on the same crop (the model-driven y0 as the middle frame);
  pair_only:    --pair-only on the same crop (plain Mertens of the two inputs);
  imf_only_big: --imf-only on the pair resized to --big (6000x4000, 24 MP, by default);
  proxy, proxy_big: --model with a one-block DenoiseNet of the default width (64 features,
                one group of one dual-attention block), on the crop and on the big pair;
  model_big:    (--model-big only) the default-size network on the big pair: hours on a CPU,
                minutes with --device cuda.

``default_vs_opencv`` (alone with ``--default-only``): the target of `expinterp fuse`'s default
fusion. Two 24 MP JPEGs (the bracket's dark and bright frames resized to --big, no EXIF, so the
ratio is estimated) are fused by the console command ``expinterp fuse DARK BRIGHT -o OUT.jpg``
(its defaults: coarse-middle fusion, alignment and deghosting; and once more with ``--align off
--deghost off``, the fusion alone) and by a plain script that reads them with OpenCV, runs ``createMergeMertens(1, 1, 1)`` and
writes the JPEG (``OPENCV_SCRIPT``); each is a whole process, Python start, reading and writing
included, run ``--repeats`` times taking turns; the medians of the wall times and each
process's own peak RSS (``os.wait4``) are compared as ratios (targets: <= 1.0 and <= 1.1).

``model_24mp_estimate_s`` extrapolates the model case's s/MP to a 24 MP photo (tiles make the
cost linear in the pixel count). Memory: a tile's activations depend on the feature width and
the nesting of residual blocks (a group input, a block input and the block's attention maps
live at once), not on the depth, so the one-block proxy holds the same per-tile memory as the
default network at 1/20 of its compute. ``model_big_peak_rss_estimate_mb`` = proxy_big peak +
(model - proxy peaks on the crop): the 24 MP figure of the default network without hours of
CPU; ``model_big`` measures it directly. ``seams`` measures the tiling's effect in-process: the
network output tiled vs untiled (PSNR between them, max abs difference, and each one's PSNR
against the real middle exposure) for a tiny DenoiseNet on a 1 MP crop and for the
default-size DenoiseNet on --seam-crop (its channel attention pools globally, so tiles differ
slightly from the whole image); with --seam-model also for a trained checkpoint.

Data: the Sony A6400 bracket of DATA/real-brackets (dark 1/125 s, middle 1/30 s, bright
1/8 s, 3008x2000; DATA from --data-root, $EXPINTERP_DATA or ../shared/data: data_root.py),
centre crops; a synthetic scene when that folder is absent and --data-root is not given.

    python benchmarks/bench_fuse.py [--quick] [--crop 2048x1024] [--tile 512] [--big 6000x4000]
                                    [--default-only] [--repeats 3]
"""
import argparse
import contextlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from data_root import ENV, add_data_root_argument, data_root, require

REPO = Path(__file__).resolve().parents[1]
SEQUENCE = 'ntu_a6400_scene3'
TRIPLET = (4, 6, 8)  # 1/125 s, 1/30 s, 1/8 s: 4 EV from dark to bright
TINY_DENOISE = {'type': 'DenoiseNet', 'in_channels': 3, 'out_channels': 3, 'n_feat': 8,
                'num_rrg': 1, 'num_dab': 1, 'reduction': 4}
PROXY_DEPTH = {'num_rrg': 1, 'num_dab': 1}


def size_arg(text):
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


def real_triplet():
    """(dark, mid, bright) RGB uint8 and their times from the shared brackets, or None."""
    brackets = data_root() / 'real-brackets'
    manifest = brackets / 'manifest.json'
    if not manifest.is_file():
        return None
    from expinterp_plugin.exposure.io import read_image
    sequence = next(s for s in json.loads(manifest.read_text())['sequences']
                    if s['id'] == SEQUENCE)
    frames = [read_image(brackets / sequence['folder'] / sequence['files'][i]) for i in TRIPLET]
    times = [sequence['exposure_times_s'][i] for i in TRIPLET]
    return frames, times, f'{SEQUENCE} frames {TRIPLET}'


def synthetic_triplet(size):
    """A procedural HDR scene exposed 2 EV apart through a gamma 2.2 response (RGB uint8)."""
    from expinterp_plugin.exposure.io import to_dtype
    from expinterp_plugin.exposure.synth import render_scene
    radiance = render_scene(0, size)
    times = [1 / 64, 1 / 16, 1 / 4]
    frames = [to_dtype(np.clip(radiance * (t * 8), 0, 1) ** (1 / 2.2), np.uint8) for t in times]
    return frames, times, f'synthetic scene {size[0]}x{size[1]}'


def centre_crop(img, size):
    width, height = size
    h, w = img.shape[:2]
    if width > w or height > h:
        raise SystemExit(f'crop {width}x{height} is larger than the {w}x{h} source')
    top, left = (h - height) // 2, (w - width) // 2
    return np.ascontiguousarray(img[top:top + height, left:left + width])


def write_experiment(folder, network, seed=0):
    """A BasicSR-like experiment folder with random weights; returns the checkpoint path."""
    import torch
    import yaml
    from basicsr.archs import build_network
    opt = {'name': 'bench', 'model_type': 'HybridExposureModel', 'scale': 1,
           'datasets': {'train': {'name': 'train', 'type': 'ExposureTripletDataset',
                                  'dataroot': 'unused', 'mode': 'hybrid'}},
           'network_g': dict(network)}
    (folder / 'models').mkdir(parents=True)
    (folder / 'bench.yml').write_text(yaml.safe_dump(opt))
    torch.manual_seed(seed)
    ckpt = folder / 'models' / 'net_g.pth'
    torch.save({'params': build_network(network).state_dict()}, ckpt)
    return ckpt


def default_network():
    """network_g of options/hybrid.yml: the paper's DenoiseNet (2,834,947 parameters)."""
    import yaml
    return yaml.safe_load((REPO / 'options' / 'hybrid.yml').read_text())['network_g']


def run_child(kind, payload):
    """This script as a child process doing ``kind`` with ``payload``; its last stdout line as
    JSON. Children do all torch work, so the parent's RSS stays small: a child's ru_maxrss
    starts from its parent's RSS at fork time."""
    done = subprocess.run([sys.executable, __file__, '--child', kind, json.dumps(payload)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f'{kind} child {payload} failed:\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def expinterp_json(argv):
    """(wall seconds, parsed --json output) of `expinterp ARGV --json` run in this process;
    SystemExit with its status when it fails."""
    from expinterp_plugin.cli import main
    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):
        status = main(argv + ['--json'])
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(status)
    return seconds, json.loads(captured.getvalue())


def child_fuse(argv):
    """Run `expinterp ARGV --json` in this process; print its wall time and peak RSS."""
    seconds, summary = expinterp_json(argv)
    print(json.dumps({'seconds': round(seconds, 2), 'peak_rss_mb': round(peak_rss_kb() / 1024, 1),
                      'pair_seconds': summary['pairs'][0]['seconds']}))


def peak_rss_kb():
    """This process's own peak resident set (kB): VmHWM of /proc/self/status.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used where VmHWM exists: Linux carries the
    parent's peak over into a child's ru_maxrss through fork and exec (a parent that once held
    400 MB made a 11 MB child report 407 MB here), while VmHWM belongs to the exec'd image.
    """
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def write_inputs(work, dark, bright, big_size):
    """dark/bright.png (the crop) and dark/bright_big.png (resized to ``big_size``) in
    ``work``; returns {name: (height, width)}. The big arrays are dropped on return."""
    from expinterp_plugin.exposure.io import write_image
    write_image(work / 'dark.png', dark)
    write_image(work / 'bright.png', bright)
    for name, img in (('dark_big', dark), ('bright_big', bright)):
        write_image(work / f'{name}.png', cv2.resize(img, big_size, interpolation=cv2.INTER_LINEAR))
    return {'crop': dark.shape[:2], 'big': (big_size[1], big_size[0])}


def fuse_cases(work, shapes, times, tile, tile_pad, ckpts, model_big=False, device='cpu'):
    """The `fuse` cases of the module docstring on the files of ``write_inputs``; ``ckpts``
    {'model', 'proxy'}: checkpoints. Returns {name: result with s/MP}."""
    common = ['--times', str(times[0]), str(times[2])]
    pair = [str(work / 'dark.png'), str(work / 'bright.png')]
    big = [str(work / 'dark_big.png'), str(work / 'bright_big.png')]

    def with_model(name):
        return ['--model', str(ckpts[name]), '--tile', str(tile), '--tile-pad', str(tile_pad),
                '--device', device]
    cases = {
        'model': (pair + ['-o', str(work / 'model.png')] + with_model('model'), shapes['crop']),
        'proxy': (pair + ['-o', str(work / 'proxy.png')] + with_model('proxy'), shapes['crop']),
        'imf_only': (pair + ['-o', str(work / 'imf.png'), '--imf-only'], shapes['crop']),
        'pair_only': (pair + ['-o', str(work / 'pair.png'), '--pair-only'], shapes['crop']),
        'imf_only_big': (big + ['-o', str(work / 'imf_big.png'), '--imf-only'], shapes['big']),
        'proxy_big': (big + ['-o', str(work / 'proxy_big.png')] + with_model('proxy'),
                      shapes['big']),
    }
    if model_big:
        cases['model_big'] = (big + ['-o', str(work / 'model_big.png')] + with_model('model'),
                              shapes['big'])
    results = {}
    for name, (argv, shape) in cases.items():
        result = run_child('fuse', ['fuse'] + argv + common)
        megapixels = shape[0] * shape[1] / 1e6
        result.update(size=f'{shape[1]}x{shape[0]}', megapixels=round(megapixels, 3),
                      s_per_mp=round(result['seconds'] / megapixels, 3))
        results[name] = result
        print(f'{name}: {result}', file=sys.stderr)
    return results


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float('inf') if mse == 0 else 10 * math.log10(1.0 / mse)


def child_seams(spec):
    """Tiled vs untiled output of a random-weight ``spec['network']`` (hybrid mode) on a centre
    crop ``spec['size']`` of the bench data; prints the comparison as JSON."""
    import torch
    import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
    from basicsr.archs import build_network
    from expinterp_plugin.inference import Interpolator
    from expinterp_plugin.inference import load_interpolator
    frames, times, _ = bench_data(spec['source_size'])
    dark, mid, bright = (centre_crop(f, spec['size']) for f in frames)
    torch.manual_seed(0)
    if 'checkpoint' in spec:
        interp = load_interpolator(spec['checkpoint'])
        spec['network'] = {'type': interp.name, 'checkpoint': spec['checkpoint'],
                           'mode': interp.mode}
    else:
        interp = Interpolator(build_network(spec['network']).eval())
    run = dict(t_dark=times[0], t_bright=times[2], crf='pair', t_target=times[1])
    started = time.perf_counter()
    whole = interp(dark, bright, **run)
    whole_s = time.perf_counter() - started
    started = time.perf_counter()
    tiled = interp(dark, bright, tile=spec['tile'], tile_pad=spec['tile_pad'], **run)
    tiled_s = time.perf_counter() - started
    gt = mid.astype(np.float32) / 255.0
    y0 = interp.y0(dark, bright, **run)
    keys = ('type', 'n_feat', 'num_rrg', 'num_dab', 'checkpoint', 'mode')
    print(json.dumps({
        'network': {k: v for k, v in spec['network'].items() if k in keys},
        'size': f'{dark.shape[1]}x{dark.shape[0]}', 'tile': spec['tile'],
        'tile_pad': spec['tile_pad'],
        'psnr_tiled_vs_untiled_db': round(psnr(tiled, whole), 2),
        'max_abs_difference': float(np.abs(tiled - whole).max()),
        'mean_abs_residual': float(np.abs(whole - y0).mean()),
        'psnr_y0_vs_real_mid_db': round(psnr(y0, gt), 4),
        'psnr_vs_real_mid_untiled_db': round(psnr(whole, gt), 4),
        'psnr_vs_real_mid_tiled_db': round(psnr(tiled, gt), 4),
        'untiled_s': round(whole_s, 2), 'tiled_s': round(tiled_s, 2)}))


def child_setup(folder):
    """Experiment folders of the default-size network and its one-block proxy under
    ``folder``; prints {'model': checkpoint, 'proxy': checkpoint}."""
    import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
    folder = Path(folder)
    networks = {'model': default_network(), 'proxy': dict(default_network(), **PROXY_DEPTH)}
    print(json.dumps({name: str(write_experiment(folder / name, network))
                      for name, network in networks.items()}))


def bench_data(source_size):
    """(frames, times, description): the real bracket, else a synthetic one of source_size."""
    return real_triplet() or synthetic_triplet(tuple(source_size))


CHILDREN = {'fuse': child_fuse, 'seams': child_seams, 'setup': child_setup}

#: The reference process of ``default_vs_opencv``: OpenCV's Mertens of a JPEG pair, as a user
#: would script it (argv: dark, bright, output).
OPENCV_SCRIPT = """
import sys, cv2
images = [cv2.imread(sys.argv[1]), cv2.imread(sys.argv[2])]
fused = cv2.createMergeMertens(1, 1, 1).process(images)
cv2.imwrite(sys.argv[3], cv2.convertScaleAbs(fused, alpha=255))
"""


def timed_process(argv):
    """(wall seconds, peak RSS MB) of one process running ``argv``, from its start to its exit;
    the peak is the process's own (``os.wait4``'s ru_maxrss of that child)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f'{argv} failed: {child.stderr.read().decode()[-2000:]}')
    child.stderr.close()
    return seconds, usage.ru_maxrss / 1024


def default_vs_opencv(work, frames, big_size, repeats):
    """The default `expinterp fuse` of a ``big_size`` JPEG pair against OpenCV's Mertens script
    on the same files, ``repeats`` times taking turns; medians and their ratios."""
    paths = [work / 'dark_big.jpg', work / 'bright_big.jpg']
    for path, frame in zip(paths, (frames[0], frames[2])):
        cv2.imwrite(str(path), cv2.resize(frame[:, :, ::-1], big_size,
                                          interpolation=cv2.INTER_LINEAR))
    script = work / 'opencv_mertens.py'
    script.write_text(OPENCV_SCRIPT)
    fuse = [str(Path(sys.executable).parent / 'expinterp'), 'fuse', *map(str, paths), '-o']
    commands = {'expinterp_fuse': fuse + [str(work / 'default.jpg')],
                'expinterp_fuse_no_align_no_deghost': fuse + [str(work / 'static.jpg'),
                                                              '--align', 'off', '--deghost', 'off'],
                'opencv_mertens': [sys.executable, str(script), *map(str, paths),
                                   str(work / 'opencv.jpg')]}
    runs = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            runs[name].append(timed_process(argv))
        print(f'default vs opencv: {[r[-1] for r in runs.values()]}', file=sys.stderr)
    medians = {name: {'seconds': round(float(np.median([s for s, _ in r])), 2),
                      'peak_rss_mb': round(float(np.median([m for _, m in r])), 1),
                      'runs': [[round(s, 2), round(m, 1)] for s, m in r]}
               for name, r in runs.items()}
    theirs = medians['opencv_mertens']
    ratios = {f'{name}_{what}_ratio': round(medians[name][key] / theirs[key], 3)
              for name in commands if name != 'opencv_mertens'
              for what, key in (('time', 'seconds'), ('peak_rss', 'peak_rss_mb'))}
    return {'size': f'{big_size[0]}x{big_size[1]}', 'repeats': repeats, **medians, **ratios}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small run: 512x384 crop, 3000x2000 big case, 256x256 seam crop')
    parser.add_argument('--crop', type=size_arg, help='crop WxH for the model case '
                        '(default 2048x1024, 2.1 MP)')
    parser.add_argument('--big', type=size_arg, help='size of the big --imf-only case '
                        '(default 6000x4000)')
    parser.add_argument('--seam-crop', type=size_arg,
                        help='crop for the default-size network\'s seam measurement '
                        '(default 1024x1024, 1 MP)')
    parser.add_argument('--tile', type=int, default=512, help='tile side (default 512)')
    parser.add_argument('--tile-pad', type=int, default=32, help='tile context (default 32)')
    parser.add_argument('--model-big', action='store_true',
                        help='also run the default-size network on the big pair (hours on CPU)')
    parser.add_argument('--device', default='cpu', help='--device of the model cases')
    parser.add_argument('--seam-model', metavar='CKPT',
                        help='also check tiling on --seam-crop with this trained checkpoint '
                        '(options found as `expinterp interpolate` finds them)')
    add_data_root_argument(parser)
    parser.add_argument('--default-only', action='store_true',
                        help='only the default fusion against OpenCV\'s Mertens on the big pair')
    parser.add_argument('--repeats', type=int, default=3,
                        help='runs of each process in default_vs_opencv (default 3)')
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data_root:
        # Through the environment: the child processes read the bench data too.
        require(args.data_root, 'real-brackets', 'manifest.json')
        os.environ[ENV] = str(args.data_root.resolve())
    if args.child:
        return CHILDREN[args.child[0]](json.loads(args.child[1]))
    crop = args.crop or ((512, 384) if args.quick else (2048, 1024))
    big = args.big or ((3000, 2000) if args.quick else (6000, 4000))
    seam_crop = args.seam_crop or ((256, 256) if args.quick else (1024, 1024))
    tiny_crop = (512, 512) if args.quick else (1024, 1024)
    source_size = [max(c[i] for c in (crop, seam_crop, tiny_crop)) for i in (0, 1)]

    frames, times, data = bench_data(source_size)
    with tempfile.TemporaryDirectory() as tmp:
        default = default_vs_opencv(Path(tmp), frames, big, args.repeats)
    print(f'default_vs_opencv: {default}', file=sys.stderr)
    if args.default_only:
        print(json.dumps({'data': data, 'cpu_count': os.cpu_count(),
                          'load_average_1min_at_end': os.getloadavg()[0],
                          'default_vs_opencv': default}, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shapes = write_inputs(work, centre_crop(frames[0], crop), centre_crop(frames[2], crop),
                              big)
        del frames
        ckpts = run_child('setup', str(work / 'experiments'))
        cases = fuse_cases(work, shapes, times, args.tile, args.tile_pad, ckpts,
                           args.model_big, args.device)
    seams = []
    for network, size, tile in ((TINY_DENOISE, tiny_crop, 256),
                                (default_network(), seam_crop, 128 if args.quick else args.tile)):
        seams.append(run_child('seams', {'network': network, 'size': size, 'tile': tile,
                                         'tile_pad': args.tile_pad,
                                         'source_size': source_size}))
        print(f'seams: {seams[-1]}', file=sys.stderr)
    if args.seam_model:
        seams.append(run_child('seams', {'checkpoint': str(Path(args.seam_model).resolve()),
                                         'size': seam_crop, 'tile': args.tile,
                                         'tile_pad': args.tile_pad, 'source_size': source_size}))
        print(f'seams: {seams[-1]}', file=sys.stderr)
    model = cases['model']
    print(json.dumps({
        'data': data, 'times_s': times, 'cpu_count': os.cpu_count(),
        'load_average_1min_at_end': os.getloadavg()[0],
        'tile': args.tile, 'tile_pad': args.tile_pad, 'default_vs_opencv': default,
        'cases': cases,
        'model_vs_imf_only_time_ratio': round(model['seconds'] / cases['imf_only']['seconds'], 1),
        'model_24mp_estimate_s': round(model['s_per_mp'] * 24, 1),
        'model_big_peak_rss_estimate_mb': round(
            cases['proxy_big']['peak_rss_mb'] + model['peak_rss_mb'] -
            cases['proxy']['peak_rss_mb'], 1),
        'seams': seams}, indent=2))


if __name__ == '__main__':
    main()
