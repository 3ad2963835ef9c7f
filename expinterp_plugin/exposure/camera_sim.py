"""Realistic exposure brackets: real scene radiance x real camera responses x sensor noise x JPEG.

Numpy + OpenCV only (no torch). A training pair for the refiner should carry the errors a user's
pair carries, so every sample is rendered by a camera drawn at random:

1. **Radiance** from a real HDR map (``.hdr`` via OpenCV; ``.exr`` via the optional ``OpenEXR``
   package, ``pip install expinterp[exr]``): a random square window (a random fraction of the
   short side, panoramas restricted to their central band of rows), a random horizontal flip,
   resized (INTER_AREA) to the render size. Linear RGB float32, normalised so its median
   luminance is 1.
2. **Camera**: a measured response curve of DoRF (Grossberg & Nayar, "What is the space of
   camera response functions?", CVPR 2003), one curve for the three channels, from a fixed split
   (:func:`dorf_split`); white-balance gains and a saturation change in the linear domain;
   an ISO-like gain; a JPEG quality (or lossless); an optional sub-pixel shift per frame.
3. **Exposure**: the middle time puts the middle frame's median luminance at a random code
   (median target times a random offset in stops); dark and bright are 2^(-EV/2) and 2^(EV/2)
   times it, so t_mid = sqrt(t_low t_high).
4. **Sensor** (:func:`sensor_signal`), per frame: signal x = radiance * gains * t in units of
   full well, Poisson shot noise of ``full_well / iso_gain`` electrons at full well plus Gaussian
   read noise (the Poisson-Gaussian model of Foi et al., "Practical Poissonian-Gaussian noise
   modeling and fitting for single-image raw-data", TIP 2008), clipped to [0, 1].
5. **Response, quantisation, JPEG**: z = round(255 F(x)), then JPEG encode/decode at the
   camera's quality (OpenCV).
6. **Handheld** (optional, ``SimConfig.camera_motion`` / ``moving_objects``; off by default):
   camera shake (a similarity per moved frame) and moving blocks/discs of the radiance, applied
   to the radiance of step 1 before step 4 (``synth.handheld``). The middle frame is the
   reference and keeps the scene's geometry; the dark and bright frames are moved. A shaken
   sample is cut from a canvas of the same radiance map with a margin around the window
   (``scene_canvas``).

Everything is deterministic for (seed, sample index): sample i draws from
``numpy.random.default_rng([seed, i])``, so results do not depend on order or worker count.
Step 6 draws from its own stream, ``default_rng([seed, i, MOTION_STREAM])``: turning it on
changes none of the camera's and exposure's draws (the noise differs: Poisson sampling draws
as many numbers as the radiance asks for), and with it off every output is what it was before
it existed.
"""
import json
import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure import crf_prior
from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.crf import save_crf
from expinterp_plugin.exposure.crf_prior import dorf_forward, dorf_split
from expinterp_plugin.exposure.io import (ImageError, atomic_directory, atomic_write_bytes,
                                          write_image)
from expinterp_plugin.exposure.prepare import (check_destination, remove_interrupted_runs,
                                               run_jobs, write_manifest)
from expinterp_plugin.exposure.synth.capture import bracket_times
from expinterp_plugin.exposure.synth.handheld import (MOVED_FRAMES, draw_objects, draw_shake,
                                                      frame_radiance, shake_margin)
from expinterp_plugin.exposure.y0 import DEFAULT_PAIR_CRF, resolve_pair_crf

RADIANCE_SUFFIXES = ('.hdr', '.exr')
SPLITS = ('train', 'val')
#: Manifest ``tool`` of the data sets this module writes: ``overwrite`` replaces only those.
SIMULATE_TOOL = 'expinterp simulate'
#: Rec.709 luminance weights (linear RGB).
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
#: Electrons at full well at base ISO; shot-noise variance per unit signal is iso_gain / FULL_WELL.
FULL_WELL = 20000.0
#: Read-noise standard deviation at base ISO, fraction of full well.
READ_NOISE = 4e-4
#: Crops of ``*_pano`` light probes keep to this central fraction of the rows (no poles).
PANO_BAND = 0.6
#: Sample i draws its camera shake and moving objects from default_rng([seed, i, MOTION_STREAM]).
MOTION_STREAM = 0x4D07


def load_dorf(path):
    """DoRF responses (``crf_prior.load_dorf``, any number of curves: tests use small fakes):
    (irradiance, brightness), each float64 (curves, samples) in [0, 1], brightness made
    non-decreasing (a few curves dip by rounding)."""
    irradiance, brightness = crf_prior.load_dorf(path, curves=None)
    return irradiance, np.maximum.accumulate(brightness, axis=1)


def read_exr(path):
    """An OpenEXR file -> linear RGB float32 (H, W, 3); needs the optional ``OpenEXR`` package.

    RGB(A) files drop alpha; luminance/chroma files (Y, RY, BY with 2x2-subsampled chroma)
    are converted with R = (RY + 1) Y, B = (BY + 1) Y, G = (Y - 0.2126 R - 0.0722 B) / 0.7152.
    """
    import OpenEXR
    channels = OpenEXR.File(str(path), separate_channels=True).parts[0].channels
    planes = {name: np.asarray(c.pixels, np.float32) for name, c in channels.items()}
    if all(k in planes for k in 'RGB'):
        return np.stack([planes[k] for k in 'RGB'], axis=2)
    if all(k in planes for k in ('Y', 'RY', 'BY')):
        y = planes['Y']
        size = (y.shape[1], y.shape[0])
        ry, by = (cv2.resize(planes[k], size, interpolation=cv2.INTER_LINEAR) for k in ('RY', 'BY'))
        r, b = (ry + 1.0) * y, (by + 1.0) * y
        return np.stack([r, (y - 0.2126 * r - 0.0722 * b) / 0.7152, b], axis=2)
    raise ImageError(f'{path}: no R, G, B or Y, RY, BY channels (has {", ".join(planes)})')


def exr_available():
    """Whether the optional ``OpenEXR`` package imports."""
    try:
        import OpenEXR  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=64)
def load_radiance(path):
    """A radiance map -> linear RGB float32 (H, W, 3), >= 0, median luminance 1 (cached)."""
    path = Path(path)
    if path.suffix.lower() == '.exr':
        rgb = read_exr(path)
    else:
        bgr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        if bgr is None:
            raise ImageError(f'{path}: not a readable Radiance .hdr file')
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb = np.nan_to_num(np.maximum(rgb.astype(np.float32), 0.0), posinf=0.0)
    median = float(np.median(rgb @ LUMA))
    if not median > 0:
        raise ImageError(f'{path}: median luminance is not positive')
    rgb /= median
    rgb.setflags(write=False)
    return rgb


def radiance_files(folder):
    """(usable radiance files sorted by name, skipped .exr files); .exr files are skipped when
    ``OpenEXR`` is not installed. Raises ImageError when the folder holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f'{folder}: not a folder')
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in RADIANCE_SUFFIXES)
    usable = [p for p in found if p.suffix.lower() == '.hdr' or exr_available()]
    skipped = [p for p in found if p not in usable]
    if not usable:
        raise ImageError(f'{folder}: no .hdr (or, with OpenEXR installed, .exr) radiance maps')
    return usable, skipped


@dataclass(frozen=True)
class SimConfig:
    """Ranges the cameras and exposures are drawn from (see the module docstring).

    size: render side in pixels (square). ev: stops between dark and bright.
    median_code: target code of the middle frame's median before ``ev_offset`` (stops, +-);
        the defaults span codes 22-181, as the 4-EV triplets cut from long real sequences do
        (middle-frame medians 12-137 in the shared real brackets).
    crop_min: smallest window side as a fraction of the radiance map's short side.
    iso: (low, high) ISO-like gain, log-uniform; 1 = base ISO.
    wb: max white-balance gain change of R and B (log-uniform in [1/wb, wb]).
    saturation: (low, high) saturation factor applied in linear RGB.
    jpeg: (low, high) JPEG quality; jpeg_prob: probability of JPEG (else lossless).
    shift: max sub-pixel shift (px) per frame and axis; shift_prob: probability of shifting.
    noise: False renders noise-free (tests).
    camera_motion: max camera shake of the dark and bright frame relative to the middle one,
        translation as a fraction of the render side (0 = off); camera_rotation: its max
        rotation (degrees); motion_prob: probability that a sample is shaken.
    moving_objects: objects (blocks/discs of the radiance) moving between the frames (0 = off);
        object_shift: their max displacement, fraction of the side; object_size: (low, high)
        box side, fraction of the side; object_prob: probability that a sample has them.
    """
    size: int = 256
    ev: float = 4.0
    median_code: float = 64.0
    ev_offset: float = 1.5
    crop_min: float = 0.35
    iso: tuple = (1.0, 16.0)
    wb: float = 1.35
    saturation: tuple = (0.8, 1.2)
    jpeg: tuple = (70, 98)
    jpeg_prob: float = 0.8
    shift: float = 0.5
    shift_prob: float = 0.3
    noise: bool = True
    camera_motion: float = 0.0
    camera_rotation: float = 1.0
    motion_prob: float = 0.5
    moving_objects: int = 0
    object_shift: float = 0.15
    object_size: tuple = (0.08, 0.25)
    object_prob: float = 0.5


def config_from_dict(values):
    """A ``SimConfig`` from ``asdict`` output that went through JSON (lists back to tuples)."""
    return SimConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class Camera:
    """One sample's camera and exposure: everything drawn from the sample's generators.

    motion: () (a tripod) or the shake of the dark and the bright frame, each float (3, 3) as
        nested tuples, reference (middle frame) pixel -> that frame's pixel (the convention of
        ``align.Alignment.matrix``). margin: canvas pixels around the frame (``scene_canvas``).
    objects: ``synth.handheld.draw_objects`` records (empty: nothing moves).
    """
    curve: int
    iso_gain: float
    wb_gains: tuple
    saturation: float
    jpeg_quality: int
    shifts: tuple
    source: str
    window: tuple
    flip: bool
    t_mid: float
    ev: float
    motion: tuple = ()
    margin: int = 0
    objects: tuple = ()


def draw_window(shape, rng, cfg, panorama):
    """(top, left, side) of a square window of a (H, W) map; panoramas stay in the band."""
    h, w = shape
    top_limit = (0, h)
    if panorama:
        margin = int(h * (1 - PANO_BAND) / 2)
        top_limit = (margin, h - margin)
    band = top_limit[1] - top_limit[0]
    side = int(min(band, w) * rng.uniform(cfg.crop_min, 1.0))
    top = top_limit[0] + int(rng.integers(0, band - side + 1))
    left = int(rng.integers(0, w - side + 1))
    return top, left, side


def crop_radiance(radiance, window, flip, size):
    """Window (top, left, side) of a radiance map, flipped, resized to size x size (float32)."""
    top, left, side = window
    crop = radiance[top:top + side, left:left + side]
    if flip:
        crop = crop[:, ::-1]
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interpolation)


def colour_transform(radiance, wb_gains, saturation):
    """Linear-RGB white balance and saturation: gains per channel, then a blend with luminance."""
    balanced = radiance * np.asarray(wb_gains, np.float32)
    luma = (balanced @ LUMA)[..., None]
    return np.maximum(luma + saturation * (balanced - luma), 0.0).astype(np.float32)


def sensor_signal(x, iso_gain, rng, noise=True):
    """Noisy linear signal of an ideal signal ``x`` (fraction of full well, any shape).

    Poisson-Gaussian: electrons ~ Poisson(x * FULL_WELL / iso_gain), read noise
    N(0, (READ_NOISE * iso_gain)^2); so E[out] = x and Var[out] = iso_gain / FULL_WELL * x +
    (READ_NOISE * iso_gain)^2 before clipping to [0, 1]. Returns float64.
    """
    x = np.clip(np.asarray(x, np.float64), 0.0, None)
    if not noise:
        return np.clip(x, 0.0, 1.0)
    electrons_per_unit = FULL_WELL / iso_gain
    # Far above full well the frame clips anyway; capping keeps Poisson's argument bounded.
    shot = rng.poisson(np.minimum(x, 4.0) * electrons_per_unit) / electrons_per_unit
    read = rng.normal(0.0, READ_NOISE * iso_gain, size=x.shape)
    return np.clip(shot + read, 0.0, 1.0)


def shift_image(img, dy, dx):
    """Sub-pixel translation (bilinear, borders replicated) of a float32 (H, W, 3) image."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, matrix, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def jpeg_roundtrip(codes, quality):
    """RGB uint8 (H, W, 3) through an OpenCV JPEG encode/decode at ``quality``."""
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(codes[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError('OpenCV could not encode a JPEG')
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def mid_exposure_time(radiance, irradiance, brightness, target_code):
    """Time that puts the median luminance of ``radiance`` at ``target_code`` (8-bit) under
    the response (irradiance, brightness): F^-1(target / 255) / median."""
    signal = np.interp(target_code / 255.0, brightness, irradiance)
    return float(max(signal, 1e-4) / np.median(radiance @ LUMA))


def draw_camera(rng, files, curves, dorf, cfg):
    """A ``Camera`` for one sample: source window, curve from ``curves``, gains, exposure."""
    source = files[int(rng.integers(len(files)))]
    radiance = load_radiance(source)
    window = draw_window(radiance.shape[:2], rng, cfg, '_pano' in source.stem)
    flip = bool(rng.integers(2))
    curve = int(curves[int(rng.integers(len(curves)))])
    iso_gain = float(math.exp(rng.uniform(math.log(cfg.iso[0]), math.log(cfg.iso[1]))))
    r_gain, b_gain = np.exp(rng.uniform(-math.log(cfg.wb), math.log(cfg.wb), size=2))
    saturation = float(rng.uniform(*cfg.saturation))
    quality = int(rng.integers(cfg.jpeg[0], cfg.jpeg[1] + 1)) if rng.random() < cfg.jpeg_prob \
        else 0
    shifts = tuple(map(float, rng.uniform(-cfg.shift, cfg.shift, size=6))) \
        if rng.random() < cfg.shift_prob else (0.0,) * 6
    target = cfg.median_code * 2.0 ** rng.uniform(-cfg.ev_offset, cfg.ev_offset)
    scene = colour_transform(crop_radiance(radiance, window, flip, cfg.size),
                             (float(r_gain), 1.0, float(b_gain)), saturation)
    irradiance, brightness = dorf[0][curve], dorf[1][curve]
    t_mid = mid_exposure_time(scene, irradiance, brightness, min(target, 250.0))
    return Camera(curve, iso_gain, (float(r_gain), 1.0, float(b_gain)), saturation, quality,
                  shifts, str(source), window, flip, t_mid, cfg.ev), scene


def scene_canvas(camera, size, margin):
    """The sample's scene with ``margin`` pixels more of its radiance map on each side: linear
    RGB float32 (size + 2 margin, size + 2 margin, 3), colour-transformed as ``draw_camera``'s
    scene.

    The window widened by ceil(margin * side / size) map pixels each way (the map's edge
    reflected where it runs out) is resized in one piece, so the frame and its margin are one
    resampling, without a seam; its centre differs from ``draw_camera``'s scene by under one
    map pixel of scale.
    """
    radiance = load_radiance(camera.source)
    top, left, side = camera.window
    extra = math.ceil(margin * side / size)
    height, width = radiance.shape[:2]
    rows, cols = (top - extra, top + side + extra), (left - extra, left + side + extra)
    piece = radiance[max(rows[0], 0):min(rows[1], height), max(cols[0], 0):min(cols[1], width)]
    piece = cv2.copyMakeBorder(np.ascontiguousarray(piece), max(0, -rows[0]),
                               max(0, rows[1] - height), max(0, -cols[0]),
                               max(0, cols[1] - width), cv2.BORDER_REFLECT_101)
    return colour_transform(crop_radiance(piece, (0, 0, side + 2 * extra), camera.flip,
                                          size + 2 * margin),
                            camera.wb_gains, camera.saturation)


def draw_movement(rng, camera, scene, cfg):
    """Camera shake and moving objects for one sample (``cfg.camera_motion``,
    ``cfg.moving_objects``), drawn from ``rng`` (the sample's ``MOTION_STREAM``).

    Returns (camera with motion, margin and objects, canvas float32 (size + 2 margin, ...)):
    the canvas is ``scene`` itself when the sample is not shaken (margin 0).
    """
    size = cfg.size
    motion, margin, objects = (), 0, ()
    if cfg.camera_motion > 0 and rng.random() < cfg.motion_prob:
        shift = cfg.camera_motion * size
        margin = shake_margin(size, shift, cfg.camera_rotation)
        motion = tuple(tuple(map(tuple, draw_shake(rng, size, shift, cfg.camera_rotation)))
                       for _ in MOVED_FRAMES)
        scene = scene_canvas(camera, size, margin)
    if cfg.moving_objects > 0 and rng.random() < cfg.object_prob:
        objects = tuple(draw_objects(rng, cfg.moving_objects, size, margin,
                                     cfg.object_shift * size, cfg.object_size))
    return replace(camera, motion=motion, margin=margin, objects=objects), scene


def render_frames(scene, camera, dorf, rng, noise=True):
    """(low, mid, high) RGB uint8 (H, W, 3) of a scene (linear RGB float32) by ``camera``; a
    camera with motion or objects takes the canvas of ``draw_movement`` as ``scene``."""
    irradiance, brightness = dorf[0][camera.curve], dorf[1][camera.curve]
    moves = dict(zip(MOVED_FRAMES, camera.motion))
    frames = []
    for n, t in enumerate(bracket_times(camera.t_mid, camera.ev)):
        radiance = scene
        if camera.motion or camera.objects:
            motion = np.array(moves[n]) if n in moves else None
            radiance = frame_radiance(scene, camera.margin, n, motion, camera.objects)
        dy, dx = camera.shifts[2 * n:2 * n + 2]
        shifted = shift_image(radiance, dy, dx) if (dy or dx) else radiance
        signal = sensor_signal(shifted * t, camera.iso_gain, rng, noise)
        codes = np.rint(255.0 * dorf_forward(signal, irradiance, brightness)).astype(np.uint8)
        frames.append(jpeg_roundtrip(codes, camera.jpeg_quality) if camera.jpeg_quality else codes)
    return tuple(frames)


def simulate_sample(seed, index, files, curves, dorf, cfg=SimConfig()):
    """One simulated bracket: {'low', 'mid', 'high': RGB uint8 (size, size, 3), 'times':
    (t_low, t_mid, t_high), 'camera': Camera}; deterministic for (seed, index)."""
    rng = np.random.default_rng([seed, index])
    camera, scene = draw_camera(rng, files, curves, dorf, cfg)
    if cfg.camera_motion > 0 or cfg.moving_objects > 0:
        camera, scene = draw_movement(np.random.default_rng([seed, index, MOTION_STREAM]),
                                      camera, scene, cfg)
    low, mid, high = render_frames(scene, camera, dorf, rng, cfg.noise)
    return {'low': low, 'mid': mid, 'high': high, 'times': bracket_times(camera.t_mid, camera.ev),
            'camera': camera}


#: SimConfig fields and Camera fields of the handheld step: left out of cameras.json where they
#: are off, so a tripod data set's cameras.json is byte for byte what it was before them.
HANDHELD_SETTINGS = ('camera_motion', 'camera_rotation', 'motion_prob', 'moving_objects',
                     'object_shift', 'object_size', 'object_prob')
HANDHELD_CAMERA = ('motion', 'margin', 'objects')


def config_record(cfg):
    """``asdict(cfg)`` for cameras.json, without the handheld settings when both are off."""
    record = asdict(cfg)
    if not (cfg.camera_motion > 0 or cfg.moving_objects > 0):
        for key in HANDHELD_SETTINGS:
            del record[key]
    return record


def camera_record(camera):
    """``asdict(camera)`` for cameras.json, without the handheld fields for a still sample."""
    record = asdict(camera)
    if not (camera.motion or camera.objects):
        for key in HANDHELD_CAMERA:
            del record[key]
    return record


def sample_name(index):
    return f'sim{index:06d}'


def _simulate_job(job):
    """Worker: render samples, write frames and the pair-estimated CRF; return their records."""
    files = [Path(p) for p in job['files']]
    dorf = load_dorf(job['dorf'])
    cfg = config_from_dict(job['config'])
    out, records = Path(job['dst']), []
    for index in job['indices']:
        sample = simulate_sample(job['seed'], index, files, job['curves'], dorf, cfg)
        name = sample_name(index)
        for frame in FRAMES:
            write_image(out / frame / f'{name}.png', sample[frame])
        t_low, t_mid, t_high = sample['times']
        # The library default y0 path (the CRF a ``pair.Pair`` resolves by default, estimated
        # from the pair): the residual the refiner learns holds the real errors of the pair
        # estimator, as a user's photos get them.
        crf = resolve_pair_crf(DEFAULT_PAIR_CRF, sample['low'], sample['high'], t_low, t_high)
        save_crf(crf, out / 'crf' / f'{name}.npy')
        records.append({'name': name, 'times': [t_low, t_mid, t_high],
                        'camera': camera_record(sample['camera'])})
    return records


def write_simulated_dataset(dst, radiance_dir, dorf_path, split='train', samples=1000, seed=0,
                            config=SimConfig(), workers=1, lmdb_writer=None, overwrite=False,
                            progress=None):
    """Write ``samples`` simulated brackets in the triplet layout at ``dst``.

    ``dst/{low,mid,high}/simNNNNNN.png``, ``exposures.txt``, ``crf/simNNNNNN.npy`` (the pair
    estimate of the library default, which ExposureTripletDataset uses for y0), and
    ``cameras.json`` (every sample's curve index, gains, ISO, JPEG quality, shifts, source).
    Curves come from ``dorf_split`` (``split`` 'train' or 'val'). Assembled in a temporary
    sibling folder and swapped into place; ``overwrite`` replaces only a folder this function
    wrote (its manifest), never the radiance folder or one around or inside it;
    ``lmdb_writer(root, keys)`` adds LMDBs before the swap.
    Returns a summary dict (counts, seconds, samples/s, skipped .exr files).
    """
    import time
    if split not in SPLITS:
        raise ValueError(f'split {split!r} not one of {", ".join(SPLITS)}')
    if samples < 1:
        raise ValueError(f'samples must be positive, got {samples}')
    dst = Path(dst)
    remove_interrupted_runs(dst, SIMULATE_TOOL)
    check_destination(radiance_dir, dst, overwrite, SIMULATE_TOOL)
    files, skipped = radiance_files(radiance_dir)
    dorf = load_dorf(dorf_path)
    curves = list(dorf_split(dorf[0].shape[0])[SPLITS.index(split)])
    started = time.perf_counter()
    with atomic_directory(dst) as tmp:
        write_manifest(tmp, radiance_dir, complete=False, tool=SIMULATE_TOOL)
        chunks = np.array_split(np.arange(samples), max(1, min(samples, workers * 8)))
        jobs = [{'dst': str(tmp), 'files': [str(p) for p in files], 'dorf': str(dorf_path),
                 'curves': curves, 'config': asdict(config), 'seed': seed,
                 'indices': chunk.tolist()} for chunk in chunks if len(chunk)]
        results = run_jobs(_simulate_job, jobs, workers, progress)
        records = [r for result in results for r in result]
        lines = ['# NAME t_low t_mid t_high (seconds)']
        lines += [f"{r['name']} " + ' '.join(f'{t:.10g}' for t in r['times']) for r in records]
        atomic_write_bytes(tmp / 'exposures.txt', ('\n'.join(lines) + '\n').encode())
        meta = {'split': split, 'seed': seed, 'dorf': str(dorf_path), 'curves': curves,
                'config': config_record(config),
                'samples': {r['name']: r['camera'] for r in records}}
        atomic_write_bytes(tmp / 'cameras.json', json.dumps(meta, indent=1).encode())
        if lmdb_writer is not None:
            lmdb_writer(tmp, [r['name'] for r in records])
        write_manifest(tmp, radiance_dir, complete=True, tool=SIMULATE_TOOL)
    seconds = time.perf_counter() - started
    return {'root': str(dst), 'split': split, 'samples': len(records), 'seed': seed,
            'curves': len(curves), 'radiance_files': len(files),
            'skipped': [str(p) for p in skipped], 'seconds': round(seconds, 2),
            'samples_per_s': round(len(records) / seconds, 2), 'lmdb': lmdb_writer is not None}
