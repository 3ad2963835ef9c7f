"""Photographic metadata of the inputs carried into the outputs: ICC profile and EXIF.

A photograph keeps its colour only with its ICC profile (a Display P3 JPEG shown as sRGB looks
desaturated) and its camera record only with its EXIF. ``read_metadata(path)`` takes both from
one input (the reference frame) as an ``ImageMetadata``; ``embed_metadata`` adds them to the
bytes OpenCV encoded for an output, so the pixels of an output are byte for byte those written
without metadata, at any bit depth:

- JPEG: APP1 ``Exif`` and APP2 ``ICC_PROFILE`` segments (the profile split in 64 KiB pieces),
  inserted after the JFIF APP0 segment;
- PNG (8 and 16 bit): ``iCCP`` and ``eXIf`` chunks, inserted after ``IHDR``;
- TIFF (8 and 16 bit): a new first IFD holding OpenCV's image tags, the ICC profile (tag 34675),
  the EXIF's IFD0 tags and its Exif/GPS sub-IFDs, appended to the file (Pillow cannot hold a
  16-bit RGB image, so it cannot write one; it serialises only the tag directory here).
- BMP, PPM and WebP outputs carry no metadata (warned once per process).

What the EXIF says is made true of the output: the orientation is applied to the pixels on
reading (``read_orientation``/``apply_orientation``, used by ``io.read_image``) and written as 1,
the thumbnail (IFD1, which shows the input) is dropped, the pixel dimensions are the output's,
and the exposure time is the output's (``ImageMetadata.with_exposure_time``) or absent.
XMP and IPTC are not carried.
"""
import math
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Optional

import numpy as np

ORIENTATION_TAG = 0x0112
EXIF_IFD_TAG = 0x8769
EXPOSURE_TIME_TAG = 0x829A
ISO_TAG = 0x8827  # ISOSpeedRatings, PhotographicSensitivity since EXIF 2.3
FNUMBER_TAG = 0x829D
#: APEX value derived from the exposure time: it goes with it.
SHUTTER_SPEED_TAG = 0x9201
PIXEL_X_TAG, PIXEL_Y_TAG = 0xA002, 0xA003
MAKER_NOTE_TAG = 0x927C
ICC_PROFILE_TAG = 34675

#: IFD0 tags that describe how a file's pixels are stored (a TIFF input's IFD0 is its EXIF IFD0
#: too), the thumbnail's pointers, and colour data the ICC profile or other blocks carry: none is
#: true of an output written by OpenCV, so none is copied.
NOT_CARRIED_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 292, 293,
    301, 317, 318, 319, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 513, 514, 529,
    530, 532, 700, 33723, 34377, 37724, ICC_PROFILE_TAG})

#: Largest payload of a JPEG marker segment (its 16-bit length counts its own 2 bytes).
JPEG_SEGMENT_MAX = 65533
_JPEG_EXIF_HEADER = b'Exif\x00\x00'
_JPEG_ICC_HEADER = b'ICC_PROFILE\x00'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'

_warned = set()


class MetadataWarning(UserWarning):
    """Metadata of an input that an output does not carry (the image itself is written)."""


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, MetadataWarning, stacklevel=3)


@dataclass(frozen=True)
class ImageMetadata:
    """What an output carries of its reference input.

    icc_profile: the ICC profile bytes, or None.
    exif: the EXIF as a TIFF byte stream ('II*\\0' or 'MM\\0*' first, no JPEG 'Exif\\0\\0'
        header), already made true of an output (orientation 1, no thumbnail, no pixel-storage
        tags), or None.
    source: the file it came from (named in warnings).
    """
    icc_profile: Optional[bytes] = None
    exif: Optional[bytes] = None
    source: str = ''

    def __bool__(self):
        return self.icc_profile is not None or self.exif is not None

    def with_exposure_time(self, seconds):
        """A copy whose EXIF ExposureTime is ``seconds`` (> 0), or has none when ``seconds`` is
        None; ShutterSpeedValue, derived from it, is removed. Without EXIF: unchanged (no EXIF
        is invented for an input that had none)."""
        if self.exif is None:
            return self
        exif = _load_exif(self.exif)
        # (get_ifd adds an Exif IFD where there was none: only when a time goes into it)
        sub = exif.get_ifd(EXIF_IFD_TAG) if EXIF_IFD_TAG in exif or seconds is not None else {}
        for ifd in (exif, sub):
            for tag in (EXPOSURE_TIME_TAG, SHUTTER_SPEED_TAG):
                if tag in ifd:
                    del ifd[tag]
        if seconds is not None:
            from PIL.TiffImagePlugin import IFDRational
            # A rational, as cameras write it: 1/64 s stays 1/64, not 0.015625 rounded.
            exact = Fraction(float(seconds)).limit_denominator(1_000_000)
            sub[EXPOSURE_TIME_TAG] = IFDRational(exact.numerator, exact.denominator)
        return replace(self, exif=_tiff_stream(exif))


def _load_exif(data):
    from PIL import Image
    exif = Image.Exif()
    exif.load(data)
    return exif


def _tiff_stream(exif, offset=8):
    """The Pillow ``Exif`` serialised as a TIFF stream (without the JPEG 'Exif\\0\\0' header)
    whose IFD0 starts at ``offset`` of the file it is placed in."""
    data = exif.tobytes(offset)
    return data[len(_JPEG_EXIF_HEADER):] if data.startswith(_JPEG_EXIF_HEADER) else data


def _file_exif(im):
    """The EXIF of an open Pillow image without decoding its pixels: a PNG whose eXIf chunk
    does not precede the image data (Pillow would decode the whole image to look after it;
    this module writes eXIf first) counts as having none."""
    from PIL import Image
    if im.format == 'PNG' and 'exif' not in im.info:
        return Image.Exif()
    return im.getexif()


def read_orientation(path):
    """The EXIF orientation 1..8 of an image file (1 when absent, invalid or unreadable)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            value = _file_exif(im).get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001  Pillow raises assorted errors on files only OpenCV reads,
        return 1       # and an unreadable tag must not stop the image from being read
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(img, orientation):
    """Turn an (H, W, ...) array read as stored into the upright image that EXIF ``orientation``
    (1..8) describes; 5..8 swap H and W. Same dtype and values, a view where numpy allows."""
    if orientation in (5, 6, 7, 8):
        img = np.swapaxes(img, 0, 1)      # transpose; 6 and 8 then mirror one axis
    if orientation in (2, 3, 6, 7):
        img = img[:, ::-1]                # 2 mirrored; 3 = 2 + 4; 6: 90 degrees clockwise
    if orientation in (3, 4, 7, 8):
        img = img[::-1]                   # 4 flipped; 7 transverse; 8: 90 counter-clockwise
    return img


def read_metadata(path):
    """The ``ImageMetadata`` of an image file: its ICC profile and its EXIF as an output of it
    should carry it (orientation 1, thumbnail and pixel-storage tags dropped). Files Pillow
    cannot open, or without either, give an empty one (false); an unreadable EXIF is warned
    about once and left out."""
    from PIL import Image, UnidentifiedImageError
    path = str(path)
    try:
        with Image.open(path) as im:
            icc = im.info.get('icc_profile') or None
            try:
                # serialised while the file is open: a TIFF's sub-IFDs are read from it lazily
                exif = _file_exif(im)
                exif = _load_exif(_tiff_stream(exif)) if len(exif) else None
            except Exception as err:  # noqa: BLE001  a damaged EXIF must not lose the image
                _warn_once(('exif', path), f'{path}: EXIF unreadable ({err}); outputs carry none')
                exif = None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return ImageMetadata(source=path)
    if exif is not None:
        for tag in list(exif):
            if tag in NOT_CARRIED_TAGS:
                del exif[tag]
        if exif.get(ORIENTATION_TAG, 1) != 1:
            exif[ORIENTATION_TAG] = 1  # the pixels are read upright (read_image)
        exif = _tiff_stream(exif) if len(exif) else None
    return ImageMetadata(icc_profile=icc, exif=exif, source=path)


def _output_exif(metadata, size, endian=None):
    """The metadata's EXIF (a Pillow ``Exif``) with the output's pixel dimensions (where it
    records them) and, when given, the byte order ``endian`` ('<' or '>') of a TIFF file."""
    exif = _load_exif(metadata.exif)
    sub = exif.get_ifd(EXIF_IFD_TAG) if EXIF_IFD_TAG in exif else {}
    for tag, value in ((PIXEL_X_TAG, size[0]), (PIXEL_Y_TAG, size[1])):
        if tag in sub:
            sub[tag] = value
    if endian is not None:
        exif.endian = endian
    return exif


def embed_metadata(data, suffix, metadata, size):
    """Add ``metadata`` (``ImageMetadata``) to the encoded image ``data`` (bytes OpenCV wrote
    for ``suffix``, e.g. '.jpg') of ``size`` (width, height); returns the new bytes. Formats
    that cannot carry it are returned unchanged (warned once)."""
    if not metadata:
        return data
    if suffix in ('.jpg', '.jpeg'):
        return _embed_jpeg(data, metadata, size)
    if suffix == '.png':
        return _embed_png(data, metadata, size)
    if suffix in ('.tif', '.tiff'):
        return _embed_tiff(data, metadata, size)
    _warn_once(('format', suffix), f'{suffix} outputs cannot carry the ICC profile and EXIF of '
               f'{metadata.source}; write .jpg, .png or .tif to keep them')
    return data


def _jpeg_segment(marker, payload):
    return struct.pack('>BBH', 0xFF, marker, len(payload) + 2) + payload


def _embed_jpeg(data, metadata, size):
    segments = []
    if metadata.exif is not None:
        exif = _output_exif(metadata, size)
        payload = _JPEG_EXIF_HEADER + _tiff_stream(exif)
        if (len(payload) > JPEG_SEGMENT_MAX and EXIF_IFD_TAG in exif
                and MAKER_NOTE_TAG in exif.get_ifd(EXIF_IFD_TAG)):
            # A maker note can hold most of an EXIF block; the rest is worth more than it.
            del exif.get_ifd(EXIF_IFD_TAG)[MAKER_NOTE_TAG]
            payload = _JPEG_EXIF_HEADER + _tiff_stream(exif)
            _warn_once(('makernote', metadata.source), f'{metadata.source}: EXIF too large for '
                       'one JPEG segment; its maker note is left out')
        if len(payload) > JPEG_SEGMENT_MAX:
            _warn_once(('exif-size', metadata.source), f'{metadata.source}: EXIF of '
                       f'{len(payload)} bytes exceeds a JPEG segment; JPEG outputs carry none')
        else:
            segments.append(_jpeg_segment(0xE1, payload))
    if metadata.icc_profile is not None:
        icc = metadata.icc_profile
        piece = JPEG_SEGMENT_MAX - len(_JPEG_ICC_HEADER) - 2
        pieces = [icc[i:i + piece] for i in range(0, len(icc), piece)]
        if len(pieces) > 255:
            _warn_once(('icc-size', metadata.source), f'{metadata.source}: ICC profile of '
                       f'{len(icc)} bytes exceeds what JPEG can hold; JPEG outputs carry none')
        else:
            segments += [_jpeg_segment(0xE2, _JPEG_ICC_HEADER + bytes((i + 1, len(pieces))) + p)
                         for i, p in enumerate(pieces)]
    if data[:2] != b'\xff\xd8':
        raise ValueError('not a JPEG stream (no SOI marker)')
    at = 2
    # JFIF wants its APP0 right after SOI; EXIF readers accept APP1 after it.
    if data[2:4] == b'\xff\xe0':
        at = 4 + struct.unpack('>H', data[4:6])[0]
    return data[:at] + b''.join(segments) + data[at:]


def _png_chunk(kind, payload):
    body = kind + payload
    return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body))


def _embed_png(data, metadata, size):
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b'IHDR':
        raise ValueError('not a PNG stream (no signature and IHDR)')
    chunks = []
    if metadata.icc_profile is not None:
        # name, NUL, compression method 0 (zlib); before PLTE and IDAT
        chunks.append(_png_chunk(b'iCCP', b'ICC profile\x00\x00' +
                                 zlib.compress(metadata.icc_profile, 9)))
    if metadata.exif is not None:
        chunks.append(_png_chunk(b'eXIf', _tiff_stream(_output_exif(metadata, size))))
    at = 8 + 12 + struct.unpack('>I', data[8:12])[0]  # after IHDR
    return data[:at] + b''.join(chunks) + data[at:]


def _ifd_entries(data, offset, endian):
    """{tag: 12-byte raw entry} of the classic-TIFF IFD at ``offset`` of ``data``."""
    count = struct.unpack(endian + 'H', data[offset:offset + 2])[0]
    start = offset + 2
    return {struct.unpack(endian + 'H', data[start + 12 * i:start + 12 * i + 2])[0]:
            data[start + 12 * i:start + 12 * (i + 1)] for i in range(count)}


def _embed_tiff(data, metadata, size):
    """Append a new first IFD: OpenCV's entries (they point into the unchanged file) merged
    with those of a Pillow-serialised directory of the EXIF IFD0 tags, their Exif/GPS sub-IFDs
    and the ICC profile, itself appended first. OpenCV's old IFD stays as unused bytes."""
    from PIL import Image
    order = data[:2]
    if order not in (b'II', b'MM'):
        raise ValueError('not a TIFF stream (no byte-order mark)')
    endian = '<' if order == b'II' else '>'
    if struct.unpack(endian + 'H', data[2:4])[0] != 42:
        raise ValueError('not a classic TIFF stream (BigTIFF is not supported)')
    first = struct.unpack(endian + 'I', data[4:8])[0]
    own = _ifd_entries(data, first, endian)
    exif = _output_exif(metadata, size, endian) if metadata.exif is not None else Image.Exif()
    exif.endian = endian
    for tag in own:
        if tag in exif:
            del exif[tag]
    if metadata.icc_profile is not None:
        exif[ICC_PROFILE_TAG] = metadata.icc_profile
    out = bytearray(data)
    if len(out) % 2:
        out += b'\x00'  # TIFF offsets are word-aligned
    extra_at = len(out)
    out += _tiff_stream(exif, extra_at)[8:]  # the 8-byte header stays the file's own
    entries = {**_ifd_entries(out, extra_at, endian), **own}
    if len(out) % 2:
        out += b'\x00'
    ifd_at = len(out)
    out += struct.pack(endian + 'H', len(entries))
    out += b''.join(entries[tag] for tag in sorted(entries))
    out += data[first + 2 + 12 * len(own):first + 6 + 12 * len(own)]  # OpenCV's next-IFD link
    out[4:8] = struct.pack(endian + 'I', ifd_at)
    return bytes(out)


# --- exposure settings of an input ------------------------------------------------------------

def _exif_number(exif, tag):
    """A positive finite number from the Exif sub-IFD (else IFD0) of a Pillow Exif, or None.
    ISO may be a tuple of values (ISOSpeedRatings): the first one counts."""
    value = exif.get_ifd(EXIF_IFD_TAG).get(tag) or exif.get(tag)
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def exif_exposure(path):
    """(ExposureTime in s, ISO, FNumber) from a file's EXIF, each None when absent or
    unreadable. Uses Pillow (it parses every EXIF layout); OpenCV does not expose EXIF."""
    try:
        from PIL import Image
    except ImportError:
        return None, None, None
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            return tuple(_exif_number(exif, tag)
                         for tag in (EXPOSURE_TIME_TAG, ISO_TAG, FNUMBER_TAG))
    except (OSError, ValueError):
        return None, None, None


def exif_exposure_time(path):
    """ExposureTime (seconds) from a file's EXIF, or None when absent/unreadable."""
    return exif_exposure(path)[0]


def equivalent_exposure_times(paths):
    """The EXIF exposures of ``paths`` as times at the first file's ISO and aperture: list of
    seconds, t * (ISO / ISO_0) * (N_0 / N)^2, the sensor exposure ratio the method needs; a
    factor whose tag a file lacks is left out (ISO and FNumber each count only when every file
    records them). None when a file records no ExposureTime. Phones vary ISO along a bracket:
    ExposureTime alone misreads such a pair by the ISO ratio (3 EV on MEFB's door2)."""
    settings = [exif_exposure(p) for p in paths]
    if not all(s[0] for s in settings):
        return None
    times = [s[0] for s in settings]
    if all(s[1] for s in settings):
        times = [t * s[1] / settings[0][1] for t, s in zip(times, settings)]
    if all(s[2] for s in settings):
        times = [t * (settings[0][2] / s[2]) ** 2 for t, s in zip(times, settings)]
    return times
