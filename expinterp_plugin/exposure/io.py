"""Image and exposure-time I/O for the numeric core (numpy + OpenCV, no torch).

Boundary convention: every image that crosses this module is a numpy array HxWx3 in **RGB**
order with dtype uint8 (codes 0..255) or uint16 (codes 0..65535). OpenCV's BGR order never
leaks out of here.
"""
import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

_EXPOSURE_TIME_TAG = 0x829A


class ImageError(ValueError):
    """A file could not be used as an image; the message names the file and the problem."""


def read_image(path):
    """Read an 8- or 16-bit colour image as RGB uint8/uint16 HxWx3 (grey is expanded to 3)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f'{path}: no such file')
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageError(f'{path}: not a readable image')
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'{path}: unsupported sample type {img.dtype} (need 8- or 16-bit)')
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] != 3:
        raise ImageError(f'{path}: {img.shape[2]} channels (need 1, 3 or 4)')
    return np.ascontiguousarray(img[:, :, ::-1])


def default_file_mode():
    """0o666 less the process umask: what a plain ``open(path, 'w')`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` via a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        # mkstemp creates 0600 files; the result should carry the user's usual permissions.
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(dst):
    """Yield a temporary sibling folder that replaces ``dst`` when the block succeeds.

    On any error the temporary folder is removed and ``dst`` is left as it was, so an
    interrupted run never leaves a half-written data set behind.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{dst.name}.', dir=dst.parent))
    try:
        os.chmod(tmp, default_file_mode() | 0o111)
        yield tmp
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def encode_image(img, ext):
    """Encode an RGB uint8/uint16 HxWx3 (or HxW grey) array for a file extension like '.png'."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'cannot encode dtype {img.dtype}: convert to uint8 or uint16 first')
    bgr = img[:, :, ::-1] if img.ndim == 3 else img
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr))
    if not ok:
        raise ImageError(f'OpenCV cannot encode {img.dtype} images as {ext}')
    return buf.tobytes()


def write_image(path, img):
    """Write an RGB uint8/uint16 image atomically; the format follows the file extension."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(img, path.suffix.lower() or '.png'))


def to_dtype(img01, dtype):
    """Float image in [0,1] -> uint8/uint16 codes, rounded to nearest and clipped."""
    scale = np.iinfo(dtype).max
    return np.clip(np.rint(np.asarray(img01, np.float64) * scale), 0, scale).astype(dtype)


def to_uint8(img):
    """RGB uint8/uint16 codes or float [0, 1] (H, W, 3) -> uint8 codes: 16-bit codes / 257 and
    floats * 255, rounded to nearest; uint8 is returned as it is."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        img = img / 65535.0
    return to_dtype(img, np.uint8)


def exif_exposure_time(path):
    """ExposureTime (seconds) from a file's EXIF, or None when absent/unreadable.

    Uses Pillow when available (it parses every EXIF layout); OpenCV does not expose EXIF.
    """
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(0x8769).get(_EXPOSURE_TIME_TAG) or exif.get(_EXPOSURE_TIME_TAG)
    except (OSError, ValueError):
        return None
    if value is None:
        return None
    value = float(value)
    return value if value > 0 else None


_COMMENT = re.compile(r'\s*#.*$')


def read_table(path, ncols):
    """Whitespace table with a name column and ``ncols`` positive float columns.

    Returns {name: tuple of floats}. Lines starting with '#' and blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f'{path}: no such file')
    table = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = _COMMENT.sub('', line).strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != ncols + 1:
            raise ImageError(f'{path}:{lineno}: expected a name and {ncols} number(s), got {line!r}')
        try:
            values = tuple(float(v) for v in parts[1:])
        except ValueError:
            raise ImageError(f'{path}:{lineno}: not a number in {line!r}') from None
        if any(v <= 0 for v in values):
            raise ImageError(f'{path}:{lineno}: exposure times must be positive, got {line!r}')
        table[parts[0]] = values
    return table
