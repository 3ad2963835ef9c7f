"""The triplet layout as records, on disk or in LMDB, and the writer of its LMDB copies
(docs/design.md, "Data layout").

- disk: ``ROOT/{low,mid,high}/KEY.ext`` and ``ROOT/exposures.txt`` (``KEY t_low t_mid t_high``);
- lmdb: ``ROOT/{low,mid,high}.lmdb`` in BasicSR's format (keys without extension, listed in
  each ``meta_info.txt``) and the same ``exposures.txt``.

A record is a dict ``{'key', 'low', 'mid', 'high', 't_low', 't_mid', 't_high'}`` whose frame
entries are file paths (disk) or LMDB keys. No torch here: ``expinterp prepare --lmdb`` writes
LMDBs through this module without the training dataset; only ``write_triplet_lmdbs`` imports
BasicSR (its ``LmdbMaker``), when called.
"""
from pathlib import Path

import cv2

from expinterp_plugin.exposure.brackets import FRAMES, read_triplet_layout
from expinterp_plugin.exposure.io import ImageError, read_table

#: Encodings ``write_triplet_lmdbs`` can store: PNG (BasicSR's choice) or uncompressed PPM.
LMDB_CODECS = ('png', 'ppm')


def check_times(listing, key, t_low, t_mid, t_high):
    """ImageError naming ``listing`` unless t_low < t_mid < t_high."""
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
    """One record per key of a disk-layout root: frame paths, exposure times."""
    return [dict(key=t.name, low=str(t.low), mid=str(t.mid), high=str(t.high),
                 t_low=t.t_low, t_mid=t.t_mid, t_high=t.t_high)
            for t in read_triplet_layout(root)]


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
    from basicsr.utils.lmdb_util import LmdbMaker
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
