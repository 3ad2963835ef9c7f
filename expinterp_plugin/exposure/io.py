"""Image and exposure-time I/O for the numeric core (numpy + OpenCV, no torch).

Boundary convention: every image that crosses this module is a numpy array HxWx3 in **RGB**
order with dtype uint8 (codes 0..255) or uint16 (codes 0..65535). OpenCV's BGR order never
leaks out of here.

Safety: an image's declared size is read from its header before it is decoded and refused above
``max_pixels()`` (env ``EXPINTERP_MAX_MEGAPIXELS``), so a small crafted file cannot take
gigabytes; files are written to a temporary sibling ``.NAME.expinterp-XXXXXXXX.part`` and renamed
into place, and folders are swapped in whole, so a killed run leaves the old or the new result.
"""
import contextlib
import ctypes
import errno
import glob
import math
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.metadata import apply_orientation, embed_metadata, read_orientation


#: Environment variable holding the largest image, in megapixels, that ``read_image`` decodes.
MAX_MEGAPIXELS_ENV = 'EXPINTERP_MAX_MEGAPIXELS'
#: Its default: above a 61-MP full-frame camera's 9504x6336; a 100-MP camera needs it raised.
DEFAULT_MAX_MEGAPIXELS = 64

#: Marks the temporary files and folders of this module's atomic writes (how a later run tells
#: leftovers of an interrupted one from the user's files).
TEMP_MARK = '.expinterp-'

#: Output suffixes that a JPEG quality applies to.
JPEG_SUFFIXES = ('.jpg', '.jpeg')

#: Output suffixes and the sample depths (bits) OpenCV writes into each without loss.
IMAGE_WRITE_DEPTHS = {'.png': (8, 16), '.tif': (8, 16), '.tiff': (8, 16), '.ppm': (8, 16),
                      '.jpg': (8,), '.jpeg': (8,), '.bmp': (8,), '.webp': (8,)}


class ImageError(ValueError):
    """A file could not be used as an image; the message names the file and the problem."""


def max_pixels():
    """The decoding limit in pixels: ``$EXPINTERP_MAX_MEGAPIXELS`` (default 64) x 10**6."""
    text = os.environ.get(MAX_MEGAPIXELS_ENV, '')
    if not text:
        return DEFAULT_MAX_MEGAPIXELS * 10**6
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f'{MAX_MEGAPIXELS_ENV}={text!r}: expected a positive number of megapixels')
    return int(value * 10**6)


def _too_large(path, what):
    limit = max_pixels()
    return ImageError(f'{path}: declares {what}, over the limit of {limit / 1e6:g} MP (raise it '
                      f'with {MAX_MEGAPIXELS_ENV})')


def declared_size(path):
    """(width, height) from an image file's header without decoding the pixels (Pillow's lazy
    open); None for formats Pillow does not know (OpenCV then applies its own limit)."""
    from PIL import Image, UnidentifiedImageError
    # Pillow's own guard warns above MAX_IMAGE_PIXELS and refuses above twice that; it must not
    # refuse what the configured limit allows.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, max_pixels())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                return im.size
        except Image.DecompressionBombError as err:
            raise _too_large(path, f'more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:g} MP '
                             f'({err})') from None
        except UnidentifiedImageError:
            return None
        except Exception:  # noqa: BLE001  Pillow's format parsers raise assorted errors on
            return None    # files only OpenCV reads; OpenCV's decoder then has the last word


def check_declared_size(path):
    """Refuse an image whose header declares more than ``max_pixels()`` pixels."""
    size = declared_size(path)
    if size is not None and size[0] * size[1] > max_pixels():
        raise _too_large(path, f'{size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.1f} MP)')


def read_image(path):
    """Read an 8- or 16-bit colour image as RGB uint8/uint16 HxWx3 (grey is expanded to 3),
    upright: the EXIF orientation (JPEG, PNG, TIFF) is applied here, once, from the tag Pillow
    reads, for every format alike (OpenCV's decoders parse EXIF for some formats only); the
    outputs record orientation 1 (``metadata.read_metadata``)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f'{path}: no such file')
    try:
        if path.stat().st_size == 0:
            raise ImageError(f'{path}: empty file (0 bytes)')
        check_declared_size(path)
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise ImageError(f'{path}: cannot read ({err.strerror or err})') from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as err:
        raise ImageError(f'{path}: not a readable image ({getattr(err, "err", err)})') from None
    if img is None:
        raise ImageError(f'{path}: not a readable image')
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'{path}: unsupported sample type {img.dtype} (need 8- or 16-bit)')
    # cvtColor rather than a reversed numpy view: it copies with SIMD on OpenCV's threads
    # (a 24 MP frame: 0.03 s against 0.3 s).
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        raise ImageError(f'{path}: {img.shape[2]} channels (need 1, 3 or 4)')
    return np.ascontiguousarray(apply_orientation(img, read_orientation(path)))


def default_file_mode():
    """0o666 less the process umask: what a plain ``open(path, 'w')`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` via a temporary file ``.NAME.expinterp-XXXXXXXX.part`` in the
    same folder, then rename: a reader (or a kill) sees the old file or the new, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}{TEMP_MARK}', suffix='.part')
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


def interrupted_writes(path):
    """Leftovers of ``atomic_write_bytes(path, ...)`` runs that were killed: the regular files
    ``.NAME.expinterp-*.part`` beside ``path`` (no user file carries that mark)."""
    path = Path(path)
    pattern = glob.escape(str(path.parent / f'.{path.name}{TEMP_MARK}')) + '*.part'
    return [Path(p) for p in glob.glob(pattern)
            if os.path.isfile(p) and not os.path.islink(p)]


def remove_interrupted_writes(path):
    """Delete ``interrupted_writes(path)``; returns the paths removed."""
    removed = interrupted_writes(path)
    for leftover in removed:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    return removed


def temp_sibling_prefix(dst):
    """Name prefix of the temporary folders that ``atomic_directory(dst)`` creates."""
    return f'.{Path(dst).name}{TEMP_MARK}'


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a, b):
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_directory(new, dst):
    """Make folder ``new`` take the place of ``dst`` so that ``dst`` is at every moment the
    complete old folder or the complete new one, then delete the old one.

    Linux swaps the two in one atomic rename; elsewhere the old folder is first renamed aside
    to a ``temp_sibling_prefix(dst)`` sibling (``dst`` is then briefly absent; the aside copy is
    complete and marked, so a later run can restore or delete it).
    """
    new, dst = Path(new), Path(dst)
    if not dst.exists():
        os.replace(new, dst)
        return
    if _exchange(new, dst):
        shutil.rmtree(new)
        return
    aside = Path(tempfile.mkdtemp(prefix=f'{temp_sibling_prefix(dst)}old-', dir=dst.parent))
    os.replace(dst, aside)
    os.replace(new, dst)
    shutil.rmtree(aside)


@contextlib.contextmanager
def atomic_directory(dst):
    """Yield a temporary sibling folder ``.NAME.expinterp-XXXXXXXX`` that replaces ``dst``
    (``replace_directory``) when the block succeeds.

    On any error the temporary folder is removed and ``dst`` is left as it was, so an
    interrupted run never leaves a half-written data set behind.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_sibling_prefix(dst), dir=dst.parent))
    try:
        os.chmod(tmp, default_file_mode() | 0o111)
        yield tmp
        replace_directory(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def image_suffix(path):
    """The encoder suffix of an output path ('.png' when it has none)."""
    return Path(path).suffix.lower() or '.png'


def check_image_output(path, dtype=None):
    """Refuse an output image path whose format OpenCV cannot write, or (with ``dtype``) cannot
    hold ``dtype`` samples without loss (16-bit into JPEG, say); called before any work."""
    suffix = image_suffix(path)
    depths = IMAGE_WRITE_DEPTHS.get(suffix)
    if depths is None:
        raise ImageError(f'{path}: unknown image type {suffix!r} (write one of '
                         f'{", ".join(IMAGE_WRITE_DEPTHS)})')
    if dtype is not None and 8 * np.dtype(dtype).itemsize not in depths:
        raise ImageError(f'{path}: {suffix} holds {"/".join(map(str, depths))}-bit samples only '
                         f'but the result is {8 * np.dtype(dtype).itemsize}-bit (write .png or '
                         '.tif, or convert the inputs to 8 bits first)')


def encode_image(img, ext, quality=None):
    """Encode an RGB uint8/uint16 HxWx3 (or HxW grey) array for a file extension like '.png';
    ``quality`` 1..100 sets a JPEG's quality (None: OpenCV's default, 95)."""
    if img.dtype not in (np.uint8, np.uint16):
        raise ImageError(f'cannot encode dtype {img.dtype}: convert to uint8 or uint16 first')
    check_image_output(ext, img.dtype)
    params = []
    if quality is not None:
        if ext not in JPEG_SUFFIXES:
            raise ImageError(f'a quality applies to JPEG ({", ".join(JPEG_SUFFIXES)}) only, '
                             f'not {ext}')
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    bgr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise ImageError(f'OpenCV cannot encode {img.dtype} images as {ext}')
    return buf.tobytes()


def write_image(path, img, metadata=None, quality=None):
    """Write an RGB uint8/uint16 (H, W, 3) image atomically; the format follows the file
    extension. ``metadata``: an ``ImageMetadata`` (``metadata.read_metadata`` of the reference
    input) whose ICC profile and EXIF the file carries (JPEG, PNG, TIFF; the pixels are encoded
    as without it); ``quality``: JPEG quality 1..100 (default OpenCV's 95)."""
    if img.dtype in (np.uint8, np.uint16):
        check_image_output(path, img.dtype)
    suffix = image_suffix(path)
    data = encode_image(img, suffix, quality)
    if metadata is not None:
        data = embed_metadata(data, suffix, metadata, (img.shape[1], img.shape[0]))
    atomic_write_bytes(path, data)


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


_COMMENT = re.compile(r'\s*#.*$')


def read_table(path, ncols):
    """Whitespace table with a name column and ``ncols`` positive float columns.

    Returns {name: tuple of floats}. Lines starting with '#' and blank lines are skipped. A name
    listed twice, or a value that is not a finite positive number, is an error naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f'{path}: no such file')
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ImageError(f'{path}: cannot read ({err})') from None
    table, first_line = {}, {}
    for lineno, line in enumerate(text.splitlines(), 1):
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
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ImageError(f'{path}:{lineno}: exposure times must be finite and positive, '
                             f'got {line!r}')
        if parts[0] in table:
            raise ImageError(f'{path}:{lineno}: {parts[0]!r} is listed twice (first on line '
                             f'{first_line[parts[0]]})')
        table[parts[0]], first_line[parts[0]] = values, lineno
    return table
