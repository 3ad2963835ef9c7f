"""Scoring interpolation methods on a triplet-layout dataset (docs/design.md, "Evaluation").

Each method predicts the middle exposure from the low (dark) and high (bright) frames only:

- ``imf-linear`` / ``imf-sigmoid``: the model-driven y0 (linear-interpolation or double-sigmoid
  IMF) with the CRF given by ``crf``;
- ``geomean``: the model-free sqrt(dark * bright);
- ``virtual2018``: the virtual image of the 2018 two-image fusion paper's public code;
- ``model:CKPT``: a trained network (hybrid, conditioned or direct) through
  ``expinterp_plugin.inference.load_interpolator``.

Predictions are rounded to the inputs' bit depth before scoring, as a saved output would be, and
scored against the real middle frame with BasicSR's PSNR/SSIM.

With ``fusion=True`` every triplet also gets the multi-scale MEF-SSIM (Ma, Zeng, Wang, TIP 2015)
of five fusions, always against the three real exposures (low, mid, high):

- ``pair``: Mertens of (dark, bright) alone;
- ``with_method``: Mertens of (dark, the method's prediction, bright), the paper's fusion;
- ``coarse_middle``: `expinterp fuse`'s default, the pair's Mertens blend at fine scales and
  the blend with the prediction at coarse ones (``fusion.coarse_middle_codes``);
- ``with_virtual2018``: Mertens of (dark, 2018 virtual image, bright);
- ``ceiling``: Mertens of (dark, real mid, bright).

MEF-SSIM is defined on 8-bit images, so the fusion columns work on 8-bit copies of the frames
(16-bit codes divided by 257 and rounded).

With ``order=True`` (and ``fusion``) every fusion column also gets its brightness-order
reversal fraction (``exposure.order``): the share of block pairs >= 1 EV apart in the scene's
radiance, estimated from (dark, bright) with the triplet's times and the method's CRF spec,
whose fused grey order is reversed (0 = the scene's order kept everywhere).
"""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from expinterp_plugin.exposure.brackets import read_triplet_layout
from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.fusion_quality import mef_ssim
from expinterp_plugin.exposure.io import atomic_write_bytes, to_dtype, to_uint8
from expinterp_plugin.exposure.order import log_radiance, order_consistency
from expinterp_plugin.exposure.prepare import load_frames
from expinterp_plugin.exposure.virtual2018 import virtual_image_2018
from expinterp_plugin.fusion import coarse_middle_codes
from expinterp_plugin.pair import ExposureTimes, Pair

METHODS = ('imf-linear', 'imf-sigmoid', 'geomean', 'virtual2018')
MODEL_PREFIX = 'model:'
FUSION_COLUMNS = ('pair', 'with_method', 'coarse_middle', 'with_virtual2018', 'ceiling')
FUSION_HEADERS = {'pair': 'Mertens pair', 'with_method': '+ method',
                  'coarse_middle': 'coarse-middle', 'with_virtual2018': '+ 2018 virtual',
                  'ceiling': '+ real mid'}


def geometric_mean_image(dark, bright):
    """Model-free baseline sqrt(dark * bright) in the code domain -> float32 [0, 1]."""
    peak = float(np.iinfo(dark.dtype).max)
    return (np.sqrt(dark.astype(np.float64) * bright) / peak).astype(np.float32)


def virtual2018_image(dark, bright):
    """The 2018 virtual image of RGB uint8/uint16 frames -> float32 (H, W, 3) in [0, 1].

    The 2018 code works on 8-bit codes: 16-bit frames are reduced to 8 bit first.
    """
    return virtual_image_2018(to_uint8(dark), to_uint8(bright)).astype(np.float32) / 255.0


def dataset_crf_path(triplet):
    """ROOT/crf/NAME.npy of a triplet; FileNotFoundError when the dataset has none."""
    if triplet.crf is None:
        raise FileNotFoundError(f'no crf/{triplet.name}.npy beside the dataset for --crf dataset')
    return triplet.crf


def triplet_pair(triplet, dark, bright, crf_spec, **geometry):
    """The ``Pair`` of a triplet's dark and bright frames at its times, aimed at the middle
    frame's time; CRF spec 'dataset' is the triplet's ROOT/crf/NAME.npy. ``geometry``: the
    ``Pair``'s align, reference and deghost settings (its defaults when left out)."""
    crf = dataset_crf_path(triplet) if crf_spec == 'dataset' else crf_spec
    return Pair(dark, bright, ExposureTimes(triplet.t_low, triplet.t_high, 'exposures file'),
                t_target=triplet.t_mid, crf=crf, names=(str(triplet.low), str(triplet.high)),
                **geometry)


def parse_method(method):
    """'imf-linear' etc. -> (method, None); 'model:CKPT' -> ('model', Path(CKPT))."""
    if method.startswith(MODEL_PREFIX):
        ckpt = method[len(MODEL_PREFIX):]
        if not ckpt:
            raise ValueError('model: needs a checkpoint path, e.g. model:net_g_latest.pth')
        return 'model', Path(ckpt)
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}; choose from {", ".join(METHODS)} or '
                         f'{MODEL_PREFIX}CKPT')
    return method, None


@dataclass
class Predictor:
    """A method bound to its settings: ``predictor(triplet, dark, bright)`` -> the predicted
    middle exposure, float32 (H, W, 3) in [0, 1], RGB, from RGB uint8/uint16 (H, W, 3) frames.

    crf: a CRF spec (see ``resolve_pair_crf``) or 'dataset'; xi_l, xi_u: y0 weight thresholds
    (8-bit scale) of the imf-* methods; interpolator: the loaded network of a model:CKPT method.
    """
    method: str
    crf: object = 'pair'
    xi_l: float = 10
    xi_u: float = 250
    interpolator: object = None
    tile: int = None

    def __call__(self, triplet, dark, bright, pair=None):
        """``pair``: the triplet's ``Pair`` under this predictor's CRF spec when the caller
        holds one (``triplet_pair``), so that its CRF is estimated once for every use."""
        if self.method == 'geomean':
            return geometric_mean_image(dark, bright)
        if self.method == 'virtual2018':
            return virtual2018_image(dark, bright)
        pair = pair or triplet_pair(triplet, dark, bright, self.crf)
        if self.method in ('imf-linear', 'imf-sigmoid'):
            return pair.y0(self.xi_l, self.xi_u, self.method.split('-')[1])
        return self.interpolator.interpolate_pair(pair, tile=self.tile).output


def make_predictor(method, crf='pair', opt=None, device='cpu', xi_l=10, xi_u=250, tile=None):
    """A ``Predictor`` for ``method`` (see the module docstring); loads a model:CKPT once.

    opt: the training option YAML of a model checkpoint (only for model:CKPT).
    """
    kind, ckpt = parse_method(method)
    if kind != 'model':
        if opt is not None:
            raise ValueError(f'--opt applies to {MODEL_PREFIX}CKPT methods only, not {method!r}')
        return Predictor(kind, crf, xi_l, xi_u)
    if not ckpt.is_file():
        raise FileNotFoundError(f'{ckpt}: model checkpoint not found')
    if opt is not None and not Path(opt).is_file():
        raise FileNotFoundError(f'{opt}: option file not found')
    from expinterp_plugin.inference import load_interpolator
    return Predictor('model', crf, xi_l, xi_u, load_interpolator(ckpt, opt=opt, device=device),
                     tile)


def score(pred01, gt):
    """PSNR (dB) and SSIM of a [0,1] prediction against integer ground truth, 8-bit scale."""
    from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
    pred = to_dtype(pred01, gt.dtype).astype(np.float64)
    target = gt.astype(np.float64)
    if gt.dtype == np.uint16:
        pred, target = pred / 257.0, target / 257.0
    # BasicSR's metrics work on BGR/any order alike; channel order does not change them.
    psnr = calculate_psnr(pred, target, crop_border=0, input_order='HWC')
    ssim = calculate_ssim(pred, target, crop_border=0, input_order='HWC')
    return float(psnr), float(ssim)


def check_fusion_columns(columns):
    """ValueError unless ``columns`` is a non-empty selection of ``FUSION_COLUMNS``."""
    unknown = set(columns) - set(FUSION_COLUMNS)
    if unknown or not columns:
        raise ValueError(f'fusion columns {list(columns)}: choose one or more of '
                         f'{", ".join(FUSION_COLUMNS)}')


def fusion_images(dark, mid, bright, prediction01, virtual01=None, columns=FUSION_COLUMNS):
    """The Mertens fusions named by ``columns`` (``FUSION_COLUMNS``): {column: uint8 RGB}.

    dark, mid, bright: the real exposures, RGB uint8/uint16 (H, W, 3);
    prediction01: the method's middle exposure, float32 (H, W, 3) in [0, 1], RGB;
    virtual01: the 2018 virtual image in the same form (computed here when None and needed).
    Every fusion is of 8-bit copies of the frames, (H, W, 3) uint8 RGB.
    """
    check_fusion_columns(columns)
    d8, m8, b8 = to_uint8(dark), to_uint8(mid), to_uint8(bright)
    middles = {'with_method': lambda: to_dtype(prediction01, np.uint8),
               'with_virtual2018': lambda: to_dtype(
                   virtual2018_image(d8, b8) if virtual01 is None else virtual01, np.uint8),
               'ceiling': lambda: m8}

    def fuse(column):
        if column == 'pair':
            return mertens_fuse([d8, b8])
        if column == 'coarse_middle':
            return coarse_middle_codes(d8, middles['with_method'](), b8)
        return mertens_fuse([d8, middles[column](), b8])
    return {column: fuse(column) for column in columns}


def fusion_mef_ssim(dark, mid, bright, images):
    """{column: MEF-SSIM} of ``fusion_images`` against the real (dark, mid, bright)."""
    sources = [to_uint8(dark), to_uint8(mid), to_uint8(bright)]
    return {column: mef_ssim(sources, fused) for column, fused in images.items()}


def order_reversals(log_e, images):
    """{column: reversal fraction} of fused images against a ``log_radiance`` map."""
    return {column: order_consistency(log_e, fused).fraction for column, fused in images.items()}


def load_triplet_frames(triplet, max_side=None):
    """(dark, mid, bright) RGB uint8/uint16 (H, W, 3), each downscaled to ``max_side``; frames
    of different sizes are an error naming them."""
    return tuple(load_frames([triplet.low, triplet.mid, triplet.high], max_side))


def pair_log_radiance(pair):
    """log2 radiance (``exposure.order.log_radiance``) of a ``Pair``, float64 (H, W), from its
    dark and bright frames with its times and CRF."""
    return log_radiance(pair.dark, pair.bright, pair.crf, pair.t_dark, pair.t_bright)


def evaluate_triplet(predictor, triplet, fusion=False, max_side=None, columns=FUSION_COLUMNS,
                     order=False, geometry=None):
    """One result row: {'name', 'psnr', 'ssim'} plus {'mef_ssim': {column: score}} with fusion
    and {'order_reversal': {column: fraction}} with fusion and order."""
    dark, gt, bright = load_triplet_frames(triplet, max_side)
    # One Pair for the prediction and the order reference: its CRF is estimated once.
    pair = triplet_pair(triplet, dark, bright, getattr(predictor, 'crf', 'pair'), **(geometry or {}))
    prediction = predictor(triplet, dark, bright, pair)
    psnr, ssim = score(prediction, gt)
    row = {'name': triplet.name, 'psnr': psnr, 'ssim': ssim}
    if fusion:
        virtual = prediction if getattr(predictor, 'method', None) == 'virtual2018' else None
        images = fusion_images(dark, gt, bright, prediction, virtual, columns)
        row['mef_ssim'] = fusion_mef_ssim(dark, gt, bright, images)
        if order:
            row['order_reversal'] = order_reversals(pair_log_radiance(pair), images)
    return row


def mean_of_rows(rows, fusion=False):
    """{'psnr', 'ssim'[, 'mef_ssim': {column: mean}]}; PSNR averages the finite values only
    (a perfect prediction has infinite PSNR), and is inf when every one is infinite."""
    finite = [r['psnr'] for r in rows if math.isfinite(r['psnr'])]
    mean = {'psnr': float(np.mean(finite)) if finite else float('inf'),
            'ssim': float(np.mean([r['ssim'] for r in rows]))}
    for key in ('mef_ssim', 'order_reversal'):
        if fusion and key in rows[0]:
            mean[key] = {c: float(np.mean([r[key][c] for r in rows])) for c in rows[0][key]}
    return mean


def evaluate(root, method='imf-linear', crf='pair', progress=None, fusion=False, max_side=None,
             opt=None, device='cpu', xi_l=10, xi_u=250, tile=None, predictor=None,
             fusion_columns=FUSION_COLUMNS, order=False, geometry=None):
    """Score ``method`` on every triplet under ``root``.

    Args:
        root: a triplet-layout folder (docs/design.md, "Data layout").
        method: see the module docstring; crf: CRF spec or 'dataset' (ROOT/crf/NAME.npy).
        progress: wraps an iterable (e.g. tqdm), called as progress(it, total=N).
        fusion: add the MEF-SSIM columns (``fusion_columns``, default all five);
        order: with fusion, add each fusion's brightness-order reversal fraction;
        geometry: {'align', 'reference', 'deghost'} of every triplet's ``Pair`` (handheld
            triplets; the ground truth middle frame must already be in the reference's
            geometry, e.g. from `expinterp prepare --align`);
        max_side: downscale every frame (INTER_AREA) first.
        opt, device, tile: for model:CKPT (training options, torch device, inference tile).
        xi_l, xi_u: y0 weight thresholds for the imf-* methods (8-bit scale).
        predictor: a callable (triplet, dark, bright, pair) -> float32 [0, 1] RGB used instead
            of building one from ``method`` (which then only labels the result); ``pair`` is the
            triplet's ``Pair`` (``triplet_pair``), shared with the order reference.
    Returns {'root', 'method', 'crf', 'max_side', 'fusion', 'count', 'mean', 'triplets'}:
    ``mean`` and each row of ``triplets`` as ``mean_of_rows`` / ``evaluate_triplet``.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f'max_side must be a positive number of pixels, got {max_side}')
    if fusion:
        check_fusion_columns(fusion_columns)
    triplets = read_triplet_layout(root)
    if predictor is None:
        predictor = make_predictor(method, crf, opt, device, xi_l, xi_u, tile)
    wrap = progress or (lambda it, **_: it)
    rows = [evaluate_triplet(predictor, t, fusion, max_side, fusion_columns, order, geometry)
            for t in wrap(triplets, total=len(triplets))]
    return {'root': str(root), 'method': method, 'crf': str(crf), 'max_side': max_side,
            'fusion': bool(fusion), 'count': len(rows), 'mean': mean_of_rows(rows, fusion),
            'triplets': rows}


def _markdown_cells(name, values, columns):
    cells = [name, f'{values["psnr"]:.2f}', f'{values["ssim"]:.4f}']
    cells += [f'{values["mef_ssim"][c]:.4f}' for c in columns]
    cells += [f'{100 * values["order_reversal"][c]:.2f}' for c in values.get('order_reversal', {})]
    return '| ' + ' | '.join(cells) + ' |'


def markdown_table(result):
    """A Markdown table of an ``evaluate`` result: a caption line, then one row per triplet
    and a final **mean** row (PSNR dB, SSIM, and the MEF-SSIM columns with fusion)."""
    columns = list(result['mean'].get('mef_ssim', {})) if result['fusion'] else []
    headers = ['scene', 'PSNR (dB)', 'SSIM'] + [f'MEF-SSIM {FUSION_HEADERS[c]}' for c in columns]
    headers += [f'reversed % {FUSION_HEADERS[c]}' for c in result['mean'].get('order_reversal', {})]
    side = f', max side {result["max_side"]} px' if result.get('max_side') else ''
    lines = [f'`{result["method"]}` (CRF {result["crf"]}) on {result["root"]}: '
             f'{result["count"]} triplets{side}', '',
             '| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += [_markdown_cells(r['name'], r, columns) for r in result['triplets']]
    lines.append(_markdown_cells('**mean**', result['mean'], columns))
    return '\n'.join(lines) + '\n'


def write_markdown(path, result):
    """Write ``markdown_table(result)`` to ``path`` atomically (temp file, then rename)."""
    atomic_write_bytes(path, markdown_table(result).encode())
