"""Exposure triplets (dark, real medium, bright) for BasicSR training, validation and testing.

Layout (docs/design.md, "Data layout"; records read by ``expinterp_plugin.triplet_store``),
one root per dataset:

- disk: ``ROOT/{low,mid,high}/KEY.ext`` and ``ROOT/exposures.txt`` (``KEY t_low t_mid t_high``);
- lmdb: ``ROOT/{low,mid,high}.lmdb`` written by BasicSR's ``make_lmdb_from_imgs`` or
  ``triplet_store.write_triplet_lmdbs`` and the same ``exposures.txt``;
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
from basicsr.utils.registry import DATASET_REGISTRY

from expinterp_plugin import exposure
from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.io import ImageError
from expinterp_plugin.modes import DEFAULT_MODE, codes_to_unit, get_mode, network_input
from expinterp_plugin.triplet_store import disk_records, lmdb_records

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


def hwc_to_tensor(img):
    """float32 (H, W, C) -> contiguous torch float32 (C, H, W), channel order kept."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def crf_fingerprint(crf):
    """A hashable identity of a CRF table, so equal tables share one Y0Mapper."""
    return hashlib.sha1(np.ascontiguousarray(crf.g).tobytes()).hexdigest()


@DATASET_REGISTRY.register()
class ExposureTripletDataset(data.Dataset):
    """Dark/medium/bright triplets -> ``lq`` (network input) and ``gt`` (the real medium frame).

    Options (BasicSR dataset dict):
        dataroot (str): the root of one triplet layout.
        io_backend (dict): ``type: disk`` or ``type: lmdb`` (extra keys go to BasicSR's
            FileClient).
        phase (str): 'train' random-crops ``gt_size`` and augments; 'val'/'test' use full frames.
        gt_size (int): crop side at train. use_hflip, use_rot (bool): BasicSR's ``augment``.
        mode (str): the model's network-input mode (``expinterp_plugin.modes``; option files
            state it once at the top level and hand it down, ``mode: *mode``): 'hybrid'
            (default; lq = y0, 3 channels), 'direct' (lq = bright ‖ dark, 6), 'conditioned'
            (lq = y0 ‖ bright ‖ dark, 9).
        xi_l, xi_u (float): y0 weight thresholds (8-bit scale), defaults 10 and 250.
        imf (str): 'linear' (default) or 'sigmoid'.
        crf (str): one CRF for every scene: a file (.npy/.txt/.mat) or a preset name
            ('srgb', 'gamma2.2', 'linear'). Without it: ``crf/KEY.npy``, else ``crf/SCENE.npy``,
            else estimated once per scene from all of its low/high frames.
        t_target: 'mid' (default: the real medium frame's time from exposures.txt, so y0 and
            gt show the same exposure), 'geometric' (sqrt(t_low t_high)) or seconds.

    Each sample (float32 tensors, RGB, values in [0, 1]):
        lq (C, H, W): the network input of the mode (``modes.network_input``), C = 3 | 9 | 6.
        y0 (3, H, W): the model-driven medium exposure, in every mode (the base the model
            adds, and the ``_y0`` metrics of validation).
        gt (3, H, W): the real medium exposure.
        lq_path, gt_path (str): the low and mid frame's file (disk) or key (lmdb), as BasicSR's
            paired datasets (validation names results after lq_path's stem).

    CRFs and Y0Mappers (one 256x256x3 table per distinct CRF and time pair) are all built in
    the constructor, so forked DataLoader workers inherit them and never recompute per crop,
    per worker or per epoch.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.mode = opt.get('mode', DEFAULT_MODE)
        get_mode(self.mode, f'dataset {opt.get("name")}')
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
        lq = network_input(self.mode, y0, high, low)
        record = self.records[index]
        return {'lq': hwc_to_tensor(lq), 'y0': hwc_to_tensor(y0),
                'gt': hwc_to_tensor(codes_to_unit(mid)),
                'lq_path': record['low'], 'gt_path': record['mid']}

    def __getitem__(self, index):
        low, mid, high = self.load_frames(index)
        if self.phase == 'train':
            low, mid, high = self.augment_frames(index, low, mid, high)
        return self.make_sample(index, low, mid, high)
