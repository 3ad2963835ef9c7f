"""DenoiseNet speed: seconds per megapixel (forward, forward+backward) and training crops/s.

Prints one JSON object. Every figure is the median of ``--repeats`` timed calls after one
untimed warm-up. Variants are measured side by side in the same process on the same weights:

- ``nchw_fp32``: plain eager PyTorch, default (contiguous NCHW) memory format. The reference.
- ``channels_last_fp32``: the same network and input in channels-last memory format, which
  oneDNN (CPU) and cuDNN (GPU) may run faster for 3x3 convolutions.
- with ``--device cuda`` also ``nchw_bf16`` and ``channels_last_bf16`` (bf16 autocast).

Ratios are reference time / variant time (above 1: the variant is faster). Training
throughput: Adam steps on psi loss at the tile size, batch ``--train-batch`` (default 2 on CPU,
16 on CUDA), in crops per second.

Usage: python benchmarks/bench_denoisenet.py [--device cuda] [--size 128] [--repeats 3]
The default CPU run takes about a minute on two idle cores.
"""
import argparse
import contextlib
import copy
import json
import platform
import statistics
import time

import torch

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from expinterp_plugin.archs.denoisenet_arch import DenoiseNet
from expinterp_plugin.losses.psi_loss import PsiLoss

CONFIGS = {
    'default': dict(n_feat=64, num_rrg=4, num_dab=8),
    'small': dict(n_feat=32, num_rrg=2, num_dab=4),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--size', type=int, default=128, help='square tile side in pixels')
    parser.add_argument('--repeats', type=int, default=3, help='timed calls per figure (median)')
    parser.add_argument('--train-batch', type=int, default=None,
                        help='crops per training step (default 2 on CPU, 16 on CUDA)')
    parser.add_argument('--train-steps', type=int, default=2, help='timed training steps')
    return parser.parse_args()


def variants(device):
    """{name: (memory format, autocast dtype or None)} measured on this device."""
    found = {'nchw_fp32': (torch.contiguous_format, None),
             'channels_last_fp32': (torch.channels_last, None)}
    if device.type == 'cuda':
        found.update({'nchw_bf16': (torch.contiguous_format, torch.bfloat16),
                      'channels_last_bf16': (torch.channels_last, torch.bfloat16)})
    return found


def _timed(fn, device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def interleaved_median_seconds(fns, repeats, device):
    """{name: median wall time} of each ``fns[name]()``, after one warm-up call each.

    The variants take turns within every repeat, so a load change on a shared machine hits
    them alike and their ratio stays meaningful.
    """
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn, device))
    return {name: statistics.median(values) for name, values in times.items()}


def autocast(device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def forward_fn(net, x, device, amp_dtype):

    def forward():
        with torch.no_grad(), autocast(device, amp_dtype):
            net(x)
    return forward


def forward_backward_fn(net, x, device, amp_dtype):

    def forward_backward():
        net.zero_grad(set_to_none=True)
        with autocast(device, amp_dtype):
            loss = net(x).float().abs().mean()
        loss.backward()
    return forward_backward


def training_step_fn(net, device, memory_format, amp_dtype, batch, size):
    """One Adam step on psi(f(y0) - (y - y0)) with fixed random crops (N, 3, size, size)."""
    gen = torch.Generator().manual_seed(0)
    y0 = torch.rand(batch, 3, size, size, generator=gen).to(device, memory_format=memory_format)
    residual = (torch.rand(batch, 3, size, size, generator=gen) - 0.5).mul(0.1).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    criterion = PsiLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp_dtype):
            prediction = net(y0)
        criterion(prediction.float(), residual).backward()
        optimizer.step()
    return step


def bench_config(config, device, args):
    """Seconds per megapixel of every variant of one DenoiseNet configuration (batch 1)."""
    torch.manual_seed(0)
    base = DenoiseNet(**config).to(device)
    x = torch.rand(1, 3, args.size, args.size, device=device)
    megapixels = args.size * args.size / 1e6
    # one copy per variant, all with the same weights, so their calls can interleave
    chosen = variants(device)
    nets = {name: copy.deepcopy(base).to(memory_format=fmt) for name, (fmt, _) in chosen.items()}
    inputs = {name: x.contiguous(memory_format=fmt) for name, (fmt, _) in chosen.items()}
    amp = {name: amp_dtype for name, (_, amp_dtype) in chosen.items()}
    seconds = {}
    for kind, make in (('forward', forward_fn), ('forward_backward', forward_backward_fn)):
        fns = {name: make(nets[name], inputs[name], device, amp[name]) for name in nets}
        seconds[kind] = interleaved_median_seconds(fns, args.repeats, device)
    per_mp = {name: {kind: seconds[kind][name] / megapixels for kind in seconds} for name in nets}
    reference = per_mp['nchw_fp32']
    return {
        'options': config, 'parameters': sum(p.numel() for p in base.parameters()),
        'seconds_per_megapixel': per_mp,
        'speedup_vs_nchw_fp32': {name: {kind: reference[kind] / figures[kind] for kind in figures}
                                 for name, figures in per_mp.items() if name != 'nchw_fp32'},
    }


def bench_training(device, args):
    """Training crops/s of the default DenoiseNet: fp32 NCHW, plus channels-last bf16 on CUDA."""
    batch = args.train_batch or (16 if device.type == 'cuda' else 2)
    chosen = {'nchw_fp32': variants(device)['nchw_fp32']}
    if device.type == 'cuda':
        chosen['channels_last_bf16'] = variants(device)['channels_last_bf16']
    fns = {}
    for name, (memory_format, amp_dtype) in chosen.items():
        torch.manual_seed(0)
        net = DenoiseNet(**CONFIGS['default']).to(device, memory_format=memory_format)
        fns[name] = training_step_fn(net, device, memory_format, amp_dtype, batch, args.size)
    seconds = interleaved_median_seconds(fns, args.train_steps, device)
    return {'batch': batch, 'tile': args.size, 'config': 'default',
            'crops_per_second': {name: batch / s for name, s in seconds.items()}}


def main():
    args = parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device available')
    report = {
        'benchmark': 'DenoiseNet',
        'device': (torch.cuda.get_device_name(device) if device.type == 'cuda'
                   else platform.processor() or platform.machine()),
        'torch': torch.__version__, 'threads': torch.get_num_threads(),
        'tile': [args.size, args.size], 'batch': 1, 'repeats': args.repeats,
        'reference': 'nchw_fp32: eager PyTorch, contiguous NCHW, float32',
        'configs': {name: bench_config(config, device, args) for name, config in CONFIGS.items()},
        'training': bench_training(device, args),
    }
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
