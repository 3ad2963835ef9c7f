"""Exposure triplets (dark, real medium, bright) for BasicSR training, validation and testing.

Layout (DESIGN.md section 4), one root per dataset:

- disk: ``ROOT/{low,mid,high}/KEY.ext`` and ``ROOT/exposures.txt`` (``KEY t_low t_mid t_high``);
- lmdb: ``ROOT/{low,mid,high}.lmdb`` written by BasicSR's ``make_lmdb_from_imgs`` (keys
  without extension, listed in each ``meta_info.txt``) and the same ``exposures.txt``;
- optional CRF tables ``ROOT/crf/KEY.npy`` or ``ROOT/crf/SCENE.npy``.

A key is a scene name or ``SCENE_sNNN`` for the NNN-th sub-image crop of a scene. Every frame is
decoded at its native bit depth (uint8 or uint16 codes, RGB): y0 is a table lookup on codes, so
frames must not pass through BasicSR's float conversion first.
"""
import hashlib
import math
import re
import time
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils import data

from basicsr.data.transforms import augment, paired_random_crop
from basicsr.utils import FileClient, get_root_logger, imfrombytes
from basicsr.utils.lmdb_util import LmdbMaker
from basicsr.utils.registry import DATASET_REGISTRY

from expinterp_plugin import exposure
from expinterp_plugin.exposure.brackets import FRAMES, read_triplet_layout
from expinterp_plugin.exposure.io import ImageError, read_table

#: Encodings ``write_triplet_lmdbs`` can store: PNG (BasicSR's choice) or uncompressed PPM.
LMDB_CODECS = ('png', 'ppm')
#: lq channels of each mode: hybrid y0 (the paper's refiner input), direct bright ‖ dark
#: (the paper's deep baseline), conditioned y0 ‖ bright ‖ dark.
MODE_CHANNELS = {'hybrid': 3, 'direct': 6, 'conditioned': 9}
_CROP_SUFFIX = re.compile(r'_s\d+$')
_TO_RGB = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}


def scene_of(key):
    """Scene name of a key: ``NAME_s007`` -> ``NAME``; a plain scene name is returned as is."""
    return _CROP_SUFFIX.sub('', key)


def decode_rgb(content, name):
    """Encoded image bytes -> RGB uint8/uint16 (H, W, 3) codes; grey expanded, alpha dropped.

    ``name`` (the file or LMDB key) goes into every error message.
    """
    if content is None:
        raise ImageError(f'{name}: no such LMDB key')
    img = imfrombytes(content, flag='unchanged')
    if img is None:
        raise ImageError(f'{name}: not a readable image')
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'{name}: unsupported sample type {img.dtype} (need 8- or 16-bit)')
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels not in _TO_RGB:
        raise ImageError(f'{name}: {channels} channels (need 1, 3 or 4)')
    return cv2.cvtColor(img, _TO_RGB[channels])


def codes_to_unit(img):
    """uint8/uint16 codes (H, W, C) -> float32 in [0, 1]."""
    return img.astype(np.float32) * np.float32(1.0 / np.iinfo(img.dtype).max)


def hwc_to_tensor(img):
    """float32 (H, W, C) -> contiguous torch float32 (C, H, W), channel order kept."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def crf_fingerprint(crf):
    """A hashable identity of a CRF table, so equal tables share one Y0Mapper."""
    return hashlib.sha1(np.ascontiguousarray(crf.g).tobytes()).hexdigest()


def check_times(listing, key, t_low, t_mid, t_high):
    if not t_low < t_mid < t_high:
        raise ImageError(f'{listing}: times of {key!r} are not increasing low < mid < high '
                         f'({t_low:g}, {t_mid:g}, {t_high:g})')


def lmdb_keys(db_path):
    """Keys of a BasicSR LMDB, read from its ``meta_info.txt`` (``KEY.png (h,w,c) level``)."""
    meta = Path(db_path) / 'meta_info.txt'
    if not meta.is_file():
        raise ImageError(f'{meta}: missing (the LMDB must be made with BasicSR\'s '
                         'make_lmdb_from_imgs, which writes it)')
    return {Path(line.split()[0]).stem for line in meta.read_text().splitlines() if line.strip()}


def disk_records(root):
    """One record per key of a disk-layout root: frame paths, exposure times, CRF file."""
    records = []
    for t in read_triplet_layout(root):
        records.append(dict(key=t.name, low=str(t.low), mid=str(t.mid), high=str(t.high),
                            t_low=t.t_low, t_mid=t.t_mid, t_high=t.t_high))
    return records


def lmdb_records(root):
    """One record per key of an LMDB-layout root; every key must be in all three LMDBs."""
    root = Path(root)
    listing = root / 'exposures.txt'
    if not listing.is_file():
        raise ImageError(f'{listing}: missing (lines "NAME t_low t_mid t_high")')
    keys_in = {frame: lmdb_keys(root / f'{frame}.lmdb') for frame in FRAMES}
    records = []
    for key, (t_low, t_mid, t_high) in read_table(listing, 3).items():
        check_times(listing, key, t_low, t_mid, t_high)
        for frame in FRAMES:
            if key not in keys_in[frame]:
                raise ImageError(f'{root / (frame + ".lmdb")}: no key {key!r} (listed in '
                                 f'{listing})')
        records.append(dict(key=key, low=key, mid=key, high=key,
                            t_low=t_low, t_mid=t_mid, t_high=t_high))
    if not records:
        raise ImageError(f'{listing}: lists no scenes')
    return records


def write_triplet_lmdbs(root, keys=None, codec='png', compress_level=1, map_size=1 << 40):
    """Add ``ROOT/{low,mid,high}.lmdb`` holding the frames of the disk layout at ``root``.

    Written with BasicSR's ``LmdbMaker`` (keys without extension, ``meta_info.txt``), frames
    stored at their bit depth and channel order as in the files. ``codec`` 'png' at
    ``compress_level`` is BasicSR's format; 'ppm' stores the samples uncompressed (8- or 16-bit),
    about 2-3x larger but decoded some 20x faster, which is what lifts whole-frame random
    cropping past a few hundred crops per second per worker (benchmarks/bench_dataset.py).
    ``keys`` defaults to every key of ``ROOT/exposures.txt``; ``map_size`` is LmdbMaker's.
    """
    if codec not in LMDB_CODECS:
        raise ValueError(f'codec {codec!r} not one of {", ".join(LMDB_CODECS)}')
    root = Path(root)
    records = {r['key']: r for r in disk_records(root)}
    keys = list(records) if keys is None else list(keys)
    unlisted = [k for k in keys if k not in records]
    if unlisted:
        raise ImageError(f'{root / "exposures.txt"}: does not list {", ".join(unlisted[:5])}')
    params = [cv2.IMWRITE_PNG_COMPRESSION, compress_level] if codec == 'png' else []
    for frame in FRAMES:
        db_path = root / f'{frame}.lmdb'
        if db_path.exists():
            raise FileExistsError(f'{db_path}: already exists')
        maker = LmdbMaker(str(db_path), map_size=map_size, compress_level=compress_level)
        for key in keys:
            path = records[key][frame]
            img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ImageError(f'{path}: not a readable image')
            ok, encoded = cv2.imencode(f'.{codec}', img, params)
            if not ok:
                raise ImageError(f'{path}: OpenCV cannot encode it as {codec}')
            maker.put(encoded.tobytes(), key, img.shape if img.ndim == 3 else (*img.shape, 1))
        maker.close()


@DATASET_REGISTRY.register()
class ExposureTripletDataset(data.Dataset):
    """Dark/medium/bright triplets -> ``lq`` (network input) and ``gt`` (the real medium frame).

    Options (BasicSR dataset dict):
        dataroot (str): the root of one triplet layout.
        io_backend (dict): ``type: disk`` or ``type: lmdb`` (extra keys go to BasicSR's
            FileClient).
        phase (str): 'train' random-crops ``gt_size`` and augments; 'val'/'test' use full frames.
        gt_size (int): crop side at train. use_hflip, use_rot (bool): BasicSR's ``augment``.
        mode (str): 'hybrid' (default; lq = y0, 3 channels), 'direct' (lq = bright ‖ dark, 6),
            'conditioned' (lq = y0 ‖ bright ‖ dark, 9).
        xi_l, xi_u (float): y0 weight thresholds (8-bit scale), defaults 10 and 250.
        imf (str): 'linear' (default) or 'sigmoid'.
        crf (str): one CRF for every scene: a file (.npy/.txt/.mat) or a preset name
            ('srgb', 'gamma2.2', 'linear'). Without it: ``crf/KEY.npy``, else ``crf/SCENE.npy``,
            else estimated once per scene from all of its low/high frames.
        t_target: 'mid' (default: the real medium frame's time from exposures.txt, so y0 and
            gt show the same exposure), 'geometric' (sqrt(t_low t_high)) or seconds.

    Each sample (float32 tensors, RGB, values in [0, 1]):
        lq (C, H, W) with C = 3 | 6 | 9 by mode; in 'hybrid' and 'conditioned' lq[:3] is y0.
        gt (3, H, W): the real medium exposure.
        y0 (3, H, W): only in 'direct' mode, where it is not part of lq (for validation).
        lq_path, gt_path (str): the low and mid frame's file (disk) or key (lmdb), as BasicSR's
            paired datasets (validation names results after lq_path's stem).

    CRFs and Y0Mappers (one 256x256x3 table per distinct CRF and time pair) are all built in
    the constructor, so forked DataLoader workers inherit them and never recompute per crop,
    per worker or per epoch.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.mode = opt.get('mode', 'hybrid')
        if self.mode not in MODE_CHANNELS:
            raise ValueError(f'dataset {opt.get("name")}: mode {self.mode!r} not one of '
                             f'{", ".join(MODE_CHANNELS)}')
        self.phase = opt.get('phase', 'test')
        if self.phase == 'train' and not opt.get('gt_size'):
            raise ValueError(f'dataset {opt.get("name")}: training needs gt_size (crop side)')
        self.root = Path(opt['dataroot'])
        self.io_backend_opt = dict(opt.get('io_backend', {'type': 'disk'}))
        self.backend = self.io_backend_opt.pop('type')
        if self.backend == 'lmdb':
            self.io_backend_opt['db_paths'] = [str(self.root / f'{f}.lmdb') for f in FRAMES]
            self.io_backend_opt['client_keys'] = list(FRAMES)
            self.records = lmdb_records(self.root)
        elif self.backend == 'disk':
            self.records = disk_records(self.root)
        else:
            raise ValueError(f'dataset {opt.get("name")}: io_backend type {self.backend!r} '
                             'not supported (use disk or lmdb)')
        self.file_client = None
        started = time.perf_counter()
        self.mappers = self._build_mappers()
        get_root_logger().info(
            f'ExposureTripletDataset {self.root} ({self.backend}, {self.mode}): {len(self)} '
            f'samples, {len(set(map(id, self.mappers)))} y0 tables, '
            f'{self.estimated_crfs} CRFs estimated, {time.perf_counter() - started:.2f} s')

    def __len__(self):
        return len(self.records)

    def __getstate__(self):
        # An open LMDB environment cannot be pickled (spawned workers) and is per process.
        state = dict(self.__dict__)
        state['file_client'] = None
        return state

    def _client(self):
        if self.file_client is None:
            self.file_client = FileClient(self.backend, **self.io_backend_opt)
        return self.file_client

    def frame_name(self, record, frame):
        """File path (disk) or ``ROOT/frame.lmdb:KEY`` (lmdb) of a frame, for messages."""
        if self.backend == 'lmdb':
            return f'{self.root / (frame + ".lmdb")}:{record[frame]}'
        return record[frame]

    def read_frame(self, record, frame, client):
        """One frame of a record as RGB uint8/uint16 (H, W, 3) codes."""
        return decode_rgb(client.get(record[frame], frame), self.frame_name(record, frame))

    def _build_mappers(self):
        """One Y0Mapper per record (shared between records with equal CRF and times)."""
        spec = self.opt.get('crf')
        client = FileClient(self.backend, **self.io_backend_opt)
        self.estimated_crfs = 0
        shared = None
        if spec is not None:
            levels = np.iinfo(self.read_frame(self.records[0], 'low', client).dtype).max + 1
            shared = exposure.resolve_crf(spec, levels=levels)
        crfs = [self._crf_file(r) if shared is None else shared for r in self.records]
        estimated = self._estimate_missing_crfs(crfs, client)
        crfs = [crf or estimated[self._estimate_group(r)] for crf, r in zip(crfs, self.records)]
        cache = {}
        mappers = []
        for crf, record in zip(crfs, self.records):
            t_target = self._target_time(record)
            ident = (crf_fingerprint(crf), record['t_low'], record['t_high'], t_target)
            if ident not in cache:
                cache[ident] = exposure.Y0Mapper(
                    crf, record['t_low'], record['t_high'], t_target,
                    xi_l=self.opt.get('xi_l', 10), xi_u=self.opt.get('xi_u', 250),
                    imf=self.opt.get('imf', 'linear'))
            mappers.append(cache[ident])
        return mappers

    def _crf_file(self, record):
        """CRF from ``crf/KEY.npy`` or ``crf/SCENE.npy``; None when neither exists."""
        for name in (record['key'], scene_of(record['key'])):
            path = self.root / 'crf' / f'{name}.npy'
            if path.is_file():
                return exposure.load_crf(path)
        return None

    @staticmethod
    def _estimate_group(record):
        """Records of one scene and time pair share one estimated CRF."""
        return scene_of(record['key']), record['t_low'], record['t_high']

    def _estimate_missing_crfs(self, crfs, client):
        """Estimate one CRF per scene lacking a table, from all of the scene's low/high pixels.

        A scene stored as sub-image crops is estimated from every crop together (pixels
        flattened and concatenated), which is the whole frame when the crops tile it.
        """
        groups = OrderedDict()
        for crf, record in zip(crfs, self.records):
            if crf is None:
                groups.setdefault(self._estimate_group(record), []).append(record)
        estimated = {}
        for (_, t_low, t_high), records in groups.items():
            lows, highs = [], []
            for record in records:
                low = self.read_frame(record, 'low', client)
                high = self.read_frame(record, 'high', client)
                self.check_sizes(record, low=low, high=high)
                lows.append(low.reshape(-1, 1, 3))
                highs.append(high.reshape(-1, 1, 3))
            estimated[self._estimate_group(records[0])] = exposure.estimate_crf(
                [np.concatenate(lows), np.concatenate(highs)], [t_low, t_high])
            self.estimated_crfs += 1
        return estimated

    def _target_time(self, record):
        choice = self.opt.get('t_target', 'mid')
        if choice in (None, 'mid'):
            return record['t_mid']
        if choice == 'geometric':
            return math.sqrt(record['t_low'] * record['t_high'])
        return float(choice)

    def check_sizes(self, record, **frames):
        """All frames of a record must share shape and bit depth; errors name the files."""
        items = list(frames.items())
        first_frame, first = items[0]
        for frame, img in items[1:]:
            if img.shape != first.shape or img.dtype != first.dtype:
                raise ImageError(
                    f'{self.frame_name(record, frame)} is {img.shape[1]}x{img.shape[0]} '
                    f'{img.dtype} but {self.frame_name(record, first_frame)} is '
                    f'{first.shape[1]}x{first.shape[0]} {first.dtype}: frames of a scene must '
                    'match')

    def load_frames(self, index):
        """(low, mid, high) of sample ``index``: RGB uint8/uint16 (H, W, 3) codes, one size."""
        record = self.records[index]
        client = self._client()
        low, mid, high = (self.read_frame(record, f, client) for f in FRAMES)
        self.check_sizes(record, low=low, mid=mid, high=high)
        levels = self.mappers[index].crf.levels
        if np.iinfo(low.dtype).max + 1 != levels:
            raise ImageError(f'{self.frame_name(record, "low")}: {low.dtype} frames but the '
                             f'CRF has {levels} levels')
        return low, mid, high

    def augment_frames(self, index, low, mid, high):
        """Train-time random ``gt_size`` crop and flips/rotation, identical for the 3 frames."""
        gt_path = self.frame_name(self.records[index], 'mid')
        mid, (low, high) = paired_random_crop(mid, [low, high], self.opt['gt_size'], 1, gt_path)
        low, mid, high = augment([low, mid, high], self.opt.get('use_hflip', False),
                                 self.opt.get('use_rot', False))
        return low, mid, high

    def make_sample(self, index, low, mid, high):
        """Codes (H, W, 3) -> the sample dict (float32 CHW tensors in [0, 1], RGB)."""
        y0 = self.mappers[index](low, high)
        bright, dark = codes_to_unit(high), codes_to_unit(low)
        if self.mode == 'hybrid':
            lq = y0
        elif self.mode == 'direct':
            lq = np.concatenate([bright, dark], axis=2)
        else:
            lq = np.concatenate([y0, bright, dark], axis=2)
        record = self.records[index]
        sample = {'lq': hwc_to_tensor(lq), 'gt': hwc_to_tensor(codes_to_unit(mid)),
                  'lq_path': record['low'], 'gt_path': record['mid']}
        if self.mode == 'direct':
            sample['y0'] = hwc_to_tensor(y0)
        return sample

    def __getitem__(self, index):
        low, mid, high = self.load_frames(index)
        if self.phase == 'train':
            low, mid, high = self.augment_frames(index, low, mid, high)
        return self.make_sample(index, low, mid, high)
