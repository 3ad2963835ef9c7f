"""Full-resolution exposure interpolation with a trained network (docs/design.md, "Refining
with a network").

``load_interpolator(ckpt)`` rebuilds the network of a BasicSR training run from its option file
and checkpoint; the returned ``Interpolator`` maps a ``Pair`` (``expinterp_plugin.pair``) of any
size to the medium exposure, output = y0 + f(lq) (hybrid and conditioned modes) or f(lq)
(direct mode), where y0 is the pair's model-driven interpolation and lq is built by
``modes.network_input``, the function the training dataset uses:

    hybrid       lq = y0                    (3 channels)
    conditioned  lq = y0 ‖ bright ‖ dark    (9 channels)
    direct       lq = bright ‖ dark         (6 channels, no y0 added)

Large photos run in tiles: each ``tile`` x ``tile`` block is fed with ``tile_pad`` pixels of
context on every side (clamped at the image border), and only the block's own pixels of the
result are kept (the tiling of Real-ESRGAN's inference). A fully convolutional network whose
receptive field radius is at most ``tile_pad`` gives the untiled result exactly; layers that
pool globally (DenoiseNet's channel attention) see per-tile statistics, so the two differ
slightly (figures in benchmarks/bench_fuse.py); a network that declares whole-image context
(``global_code``, e.g. CurveRefiner's tone curve) gets the code of the whole image in every
tile instead. Memory is bounded by one tile's activations
plus the full-size y0 and output canvases (float32, 12 bytes per pixel each) and the inputs.

Arrays at this module's boundary: inputs RGB uint8/uint16 (H, W, 3) codes; outputs float32
(H, W, 3) RGB in [0, 1].
"""
import pickle
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from basicsr.utils.options import ordered_yaml
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from expinterp_plugin.modes import get_mode, mode_from_options, network_input, residual_from_options
from expinterp_plugin.pair import Interpolation, Pair

#: Longer side of the downsampled copy a whole-image context code is computed from.
CONTEXT_SIDE = 1024
#: Checkpoint keys BasicSR's ``save_network`` uses, in order of preference.
PARAM_KEYS = ('params_ema', 'params')


def find_option_file(ckpt):
    """The single ``*.yml`` of the experiment folder ``ckpt.parent.parent`` (where BasicSR
    copies the training options next to ``models/``); FileNotFoundError naming what is
    missing otherwise."""
    folder = Path(ckpt).resolve().parent.parent
    found = sorted(folder.glob('*.yml'))
    if len(found) == 1:
        return found[0]
    names = ', '.join(p.name for p in found)
    what = f'{len(found)} *.yml files ({names})' if found else 'no *.yml'
    raise FileNotFoundError(f'{ckpt}: cannot find its training options: {what} in {folder} '
                            '(BasicSR copies the option file there); pass the file with --opt')


def read_options(opt):
    """Training options as a dict: ``opt`` is a dict or a path to a BasicSR option YAML."""
    if isinstance(opt, dict):
        options, label = opt, 'the options'
    else:
        label = Path(opt)
        if not label.is_file():
            raise FileNotFoundError(f'{label}: option file not found')
        with open(label, encoding='utf-8') as f:
            try:
                options = yaml.load(f, Loader=ordered_yaml()[0])
            except yaml.YAMLError as err:
                raise ValueError(f'{label}: not valid YAML ({" ".join(str(err).split())})') \
                    from err
    if not isinstance(options, dict) or 'type' not in (options.get('network_g') or {}):
        raise ValueError(f'{label}: not BasicSR options with a network_g section and its type')
    return options


def training_dataset_options(options):
    """The dataset options the network was trained with: ``datasets.train``, else the first
    dataset listed (a test option file), else {} (defaults: xi 10/250, linear IMF)."""
    datasets = options.get('datasets') or {}
    if 'train' in datasets:
        return datasets['train']
    return next(iter(datasets.values()), {})


def read_network_weights(ckpt, device):
    """The state dict of ``network_g`` in a checkpoint file: BasicSR's {'params_ema' | 'params':
    state} or a bare state dict; a ``module.`` prefix (DataParallel/DDP) is stripped."""
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f'{ckpt}: model checkpoint not found')
    try:
        content = torch.load(ckpt, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f'{ckpt}: not a readable torch checkpoint ({err})') from err
    if not isinstance(content, dict):
        raise ValueError(f'{ckpt}: not a state dict (got {type(content).__name__})')
    state = next((content[k] for k in PARAM_KEYS if k in content), content)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{ckpt}: holds neither a state dict nor one under '
                         f'{" or ".join(PARAM_KEYS)}')
    consume_prefix_in_state_dict_if_present(state, 'module.')
    return state


def load_interpolator(ckpt, opt=None, device='cpu'):
    """An ``Interpolator`` for a trained network.

    Args:
        ckpt: a BasicSR ``net_g_*.pth`` (or any state dict file of ``network_g``).
        opt: the training option YAML (path) or its dict; default the single ``*.yml`` in
            ``ckpt.parent.parent`` (BasicSR's experiments/NAME/ beside models/).
        device: torch device for the network ('cpu', 'cuda', 'cuda:1', ...).
    The network is ``build_network(opt['network_g'])``; mode and ``residual`` are the model's
    (``modes.mode_from_options``, ``modes.residual_from_options``, as ``HybridExposureModel``
    reads them); xi_l, xi_u and imf come from the training dataset options.
    """
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f'{ckpt}: model checkpoint not found')
    source = find_option_file(ckpt) if opt is None else opt
    options = read_options(source)
    label = source if not isinstance(source, dict) else 'the options'
    dataset = training_dataset_options(options)
    mode = mode_from_options(options, label)
    arch = options['network_g']['type']
    if arch not in ARCH_REGISTRY and f'{arch}_basicsr' not in ARCH_REGISTRY:
        # asked first (with the suffix BasicSR's lookup also tries): its registry prints to
        # stdout before its KeyError
        raise ValueError(f'{label}: network_g cannot be built: no arch named {arch!r}')
    try:
        net = build_network(options['network_g'])
    except TypeError as err:
        raise ValueError(f'{label}: network_g cannot be built: {err}') from err
    try:
        net.load_state_dict(read_network_weights(ckpt, device), strict=True)
    except RuntimeError as err:
        raise ValueError(f'{ckpt} does not fit network_g of {label}: {err}') from err
    net.to(device).eval()
    return Interpolator(net, mode=mode, residual=residual_from_options(options, label),
                        xi_l=dataset.get('xi_l', 10), xi_u=dataset.get('xi_u', 250),
                        imf=dataset.get('imf', 'linear'), device=device,
                        name=options['network_g']['type'])


def tile_boxes(height, width, tile):
    """(top, bottom, left, right) blocks of side ``tile`` covering an image, row by row; the
    last row and column are narrower when the size is not a multiple. ``tile`` None: one box."""
    if tile is None or tile <= 0:
        return [(0, height, 0, width)]
    return [(top, min(top + tile, height), left, min(left + tile, width))
            for top in range(0, height, tile) for left in range(0, width, tile)]


def padded_box(box, pad, height, width):
    """``box`` grown by ``pad`` pixels on every side, clamped to the image."""
    top, bottom, left, right = box
    return max(top - pad, 0), min(bottom + pad, height), max(left - pad, 0), min(right + pad, width)


def lq_block(mode, y0, dark, bright, box):
    """Network input of one block, float32 (C, h, w) RGB [0, 1] planes, C = lq channels of
    ``mode`` (``modes.network_input``).

    y0: float32 (H, W, 3) [0, 1] (None in direct mode); dark, bright: RGB uint8/uint16 codes.
    """
    top, bottom, left, right = box
    block = (slice(top, bottom), slice(left, right))
    lq = network_input(mode, None if y0 is None else y0[block], bright[block], dark[block])
    return np.ascontiguousarray(lq.transpose(2, 0, 1))


class Interpolator:
    """A trained network bound to its mode: a ``Pair`` -> medium exposure.

    ``interpolate_pair(pair)`` is the method; ``interpolate``, ``__call__``, ``y0`` and
    ``mapper`` take the arrays and times instead and build the ``Pair`` (which checks them).

    Args:
        net: a torch module mapping (1, C, h, w) float32 to (1, 3, h, w), C by ``mode``.
        mode: 'hybrid', 'conditioned' or 'direct' (see the module docstring).
        residual: add y0 to the network output (False only for direct mode in practice).
        xi_l, xi_u, imf: y0 settings of the training data (8-bit threshold scale).
        device: where ``net`` lives; name: for messages.
        channels_last: run ``net`` (converted in place) and its inputs in channels-last memory
            format, which oneDNN and cuDNN run faster for 3x3 convolutions (benchmarks/
            bench_denoisenet.py); the results equal the default format's to float rounding.
    """

    def __init__(self, net, mode='hybrid', residual=True, xi_l=10, xi_u=250, imf='linear',
                 device='cpu', name=None, channels_last=True):
        get_mode(mode)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(memory_format=self.memory_format)
        self.mode, self.residual = mode, residual
        self.xi_l, self.xi_u, self.imf = xi_l, xi_u, imf
        self.device = torch.device(device)
        self.name = name or type(net).__name__

    def __repr__(self):
        return (f'Interpolator({self.name}, mode={self.mode}, residual={self.residual}, '
                f'device={self.device})')

    def pair_mapper(self, pair):
        """The Y0Mapper of ``pair`` with this model's xi_l, xi_u and imf."""
        return pair.mapper(self.xi_l, self.xi_u, self.imf)

    def mapper(self, dark, bright, t_dark, t_bright, crf='pair', t_target=None):
        """The Y0Mapper of a pair (CRF resolved or estimated, IMF tables built)."""
        return self.pair_mapper(Pair(dark, bright, (t_dark, t_bright), t_target, crf))

    def y0(self, dark, bright, t_dark, t_bright, crf='pair', t_target=None):
        """The model-driven part alone: y0 float32 (H, W, 3) RGB in [0, 1] with this model's
        xi_l, xi_u and imf. dark, bright: RGB uint8/uint16 (H, W, 3); crf: as
        ``interpolate_exposure`` ('pair', a preset, a path, a table or a CRF)."""
        return self.mapper(dark, bright, t_dark, t_bright, crf, t_target)(dark, bright)

    def __call__(self, dark, bright, t_dark, t_bright, crf='pair', t_target=None, tile=None,
                 tile_pad=32, progress=None):
        """Medium exposure float32 (H, W, 3) RGB in [0, 1] of a dark/bright pair.

        dark, bright: RGB uint8/uint16 (H, W, 3), same size; t_dark < t_bright in seconds;
        t_target default sqrt(t_dark t_bright); tile: block side in pixels (None or 0: the whole
        image at once); tile_pad: context pixels around each block; progress: wraps an iterable,
        called as progress(it, total=N) (e.g. tqdm).
        """
        return self.interpolate(dark, bright, t_dark, t_bright, crf, t_target, tile, tile_pad,
                                progress).output

    def interpolate(self, dark, bright, t_dark, t_bright, crf='pair', t_target=None, tile=None,
                    tile_pad=32, progress=None, keep_y0=False):
        """As ``__call__``, returning an ``Interpolation`` (output, y0, mapper); see
        ``interpolate_pair``."""
        return self.interpolate_pair(Pair(dark, bright, (t_dark, t_bright), t_target, crf),
                                     tile, tile_pad, progress, keep_y0)

    def interpolate_pair(self, pair, tile=None, tile_pad=32, progress=None, keep_y0=False):
        """The ``Interpolation`` (output, y0, mapper) of a ``Pair``; tile, tile_pad, progress as
        ``__call__``. y0 (and the pair's CRF) is computed only when the mode needs it or with
        ``keep_y0``: a direct-mode network without it never resolves the CRF."""
        if tile_pad < 0:
            raise ValueError(f'tile_pad must be >= 0, got {tile_pad}')
        mapper = y0 = None
        if self.residual or get_mode(self.mode).needs_y0 or keep_y0:
            mapper = self.pair_mapper(pair)
            y0 = mapper(pair.dark, pair.bright)
        canvas = self.network_output(pair.dark, pair.bright, y0, tile, tile_pad, progress)
        if self.residual:
            canvas += y0
        np.clip(canvas, 0.0, 1.0, out=canvas)
        return Interpolation(canvas, y0, mapper)

    def network_output(self, dark, bright, y0, tile=None, tile_pad=32, progress=None):
        """f(lq) over the whole image, float32 (H, W, 3), assembled block by block.

        A network with whole-image context (a ``global_code(x)`` method and a ``code`` argument
        of its forward, like ``CurveRefiner``) gets, in every block, the code of the whole
        image (``image_context``): per-block codes would give each tile its own tone curve."""
        height, width = dark.shape[:2]
        canvas = np.empty((height, width, 3), np.float32)
        boxes = tile_boxes(height, width, tile)
        wrap = progress or (lambda it, **_: it)
        with torch.inference_mode():
            context = {}
            if len(boxes) > 1 and hasattr(self.net, 'global_code'):
                context['code'] = self.image_context(dark, bright, y0)
            for box in wrap(boxes, total=len(boxes)):
                outer = padded_box(box, tile_pad, height, width)
                result = self.run_block(lq_block(self.mode, y0, dark, bright, outer), **context)
                top, bottom, left, right = box
                inner = (slice(top - outer[0], bottom - outer[0]),
                         slice(left - outer[2], right - outer[2]))
                canvas[top:bottom, left:right] = result[inner]
        return canvas

    def image_context(self, dark, bright, y0):
        """``net.global_code`` of the whole image, from a copy area-downsampled to at most
        ``CONTEXT_SIDE`` pixels (the code itself pools to a few dozen pixels, so this changes
        it by rounding only, and keeps a 24-MP input from being held as float planes)."""
        height, width = dark.shape[:2]
        scale = min(1.0, CONTEXT_SIDE / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))

        def shrink(img):
            return img if scale == 1.0 else cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        small = network_input(self.mode, None if y0 is None else shrink(y0), shrink(bright),
                              shrink(dark))
        batch = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None]
        return self.net.global_code(batch.to(self.device).contiguous(
            memory_format=self.memory_format))

    def run_block(self, lq, **context):
        """The network on one block: float32 (C, h, w) -> float32 (h, w, 3) on the CPU;
        ``context`` (e.g. ``code``) goes to its forward."""
        batch = torch.from_numpy(lq)[None].to(self.device).contiguous(
            memory_format=self.memory_format)
        try:
            out = self.net(batch, **context)
        except RuntimeError as err:
            raise ValueError(f'{self.name} failed on a {self.mode}-mode input of shape '
                             f'{tuple(batch.shape)}: {err}') from err
        if out.shape[1:] != (3, *batch.shape[2:]):
            raise ValueError(f'{self.name} maps lq {tuple(batch.shape)} to {tuple(out.shape)}; '
                             'an interpolator must output 3 channels at scale 1')
        return out[0].permute(1, 2, 0).float().cpu().numpy()
