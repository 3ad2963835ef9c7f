"""Issue 18, item 3: photographs out as they came in.

Outputs of `y0`, `interpolate` and `fuse` carry the reference input's ICC profile and EXIF
(orientation applied once and written as 1, no thumbnail, ExposureTime the output's); JPEG,
PNG and TIFF, 8 and 16 bit; --quality for JPEG; a pair of one exposure is refused. Every test
image is made here with Pillow, none is read from shared data.
"""
import io
import math
import struct
import warnings

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps

from expinterp_plugin.exposure import metadata as metadata_module
from expinterp_plugin.exposure.io import encode_image, read_image, write_image
from expinterp_plugin.exposure.metadata import (ImageMetadata, MetadataWarning, embed_metadata,
                                                read_metadata)
from test_core_prepare import render_frames
from test_safety_cli import refused, run

MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
ORIENTATION, EXPOSURE_TIME, PIXEL_X, PIXEL_Y = 0x0112, 0x829A, 0xA002, 0xA003
EXIF_IFD = ExifTags.IFD.Exif
T_DARK, T_BRIGHT = 1 / 64, 1 / 4  # render_frames' first and last frame


@pytest.fixture(scope='module')
def icc():
    """A real (lcms-made) sRGB ICC profile, as bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()


def camera_exif(seconds=None, orientation=None, size=None):
    """A camera's EXIF: Make/Model/DateTime, and ExposureTime, Orientation, PixelX/YDimension
    when given."""
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[DATETIME] = 'TestCam', 'Model 7', '2026:12:07 10:11:12'
    if orientation is not None:
        exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    if seconds is not None:
        sub[EXPOSURE_TIME] = seconds
    if size is not None:
        sub[PIXEL_X], sub[PIXEL_Y] = size
    return exif


def save(path, rgb8, **params):
    """Save an RGB uint8 array with Pillow (format from the suffix); returns the path."""
    if isinstance(params.get('exif'), Image.Exif):
        # as bytes: Pillow's TIFF writer leaves the Exif sub-IFD of an ``Exif`` object out
        params['exif'] = params['exif'].tobytes()
    Image.fromarray(rgb8).save(path, **params)
    return path


def gradient(height=30, width=40):
    """RGB uint8 (H, W, 3) with no symmetry: any flip or turn changes it."""
    y, x = np.mgrid[:height, :width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x * y) % 256],
                    axis=2).astype(np.uint8)


def pillow_exif(path):
    """(ICC bytes or None, IFD0 dict, Exif IFD dict, IFD1 dict) of a file, read by Pillow."""
    with Image.open(path) as im:
        exif = im.getexif()
        return (im.info.get('icc_profile'), dict(exif), exif.get_ifd(EXIF_IFD),
                exif.get_ifd(ExifTags.IFD.IFD1))


OUTPUTS = [('.jpg', np.uint8), ('.png', np.uint8), ('.png', np.uint16), ('.tif', np.uint8),
           ('.tif', np.uint16)]


class TestRoundTrip:
    @pytest.mark.parametrize('source', ['.jpg', '.png', '.tif'])
    @pytest.mark.parametrize('suffix, dtype', OUTPUTS)
    def test_icc_and_exif_survive(self, tmp_path, icc, source, suffix, dtype):
        src = save(tmp_path / f'in{source}', gradient(), icc_profile=icc,
                   exif=camera_exif(1 / 125))
        img = gradient().astype(dtype) * (257 if dtype == np.uint16 else 1)
        out = tmp_path / f'out{suffix}'
        write_image(out, img, read_metadata(src))
        got_icc, ifd0, sub, _ = pillow_exif(out)
        assert got_icc == icc
        assert (ifd0[MAKE], ifd0[MODEL], ifd0[DATETIME]) == \
            ('TestCam', 'Model 7', '2026:12:07 10:11:12')
        assert float(sub[EXPOSURE_TIME]) == pytest.approx(1 / 125)
        # the pixels are OpenCV's, as without metadata: 16-bit stays 16-bit, read by both
        back = read_image(out)
        assert back.dtype == dtype and back.shape == img.shape
        plain = tmp_path / f'plain{suffix}'
        write_image(plain, img)
        np.testing.assert_array_equal(back, read_image(plain))
        if suffix != '.jpg':
            np.testing.assert_array_equal(back, img)
        np.testing.assert_array_equal(cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1],
                                      back)

    @pytest.mark.parametrize('suffix', ['.jpg', '.png', '.tif'])
    def test_big_endian_exif_into_little_endian_tiff(self, tmp_path, suffix):
        """Apple and others write 'MM' EXIF; OpenCV's TIFF is 'II': the tags are re-encoded."""
        exif = camera_exif(1 / 30)
        exif.endian = '>'
        data = exif.tobytes()
        assert data[6:8] == b'MM'
        src = save(tmp_path / 'in.jpg', gradient(), exif=data)
        out = tmp_path / f'out{suffix}'
        write_image(out, gradient().astype(np.uint16) * 257 if suffix == '.tif' else gradient(),
                    read_metadata(src))
        _, ifd0, sub, _ = pillow_exif(out)
        assert (ifd0[MAKE], ifd0[MODEL]) == ('TestCam', 'Model 7')
        assert float(sub[EXPOSURE_TIME]) == pytest.approx(1 / 30)

    def test_no_metadata_writes_the_same_bytes_as_before(self, tmp_path):
        img = gradient()
        for suffix in ('.jpg', '.png', '.tif'):
            write_image(tmp_path / f'a{suffix}', img)
            write_image(tmp_path / f'b{suffix}', img, ImageMetadata(source='none'))
            assert (tmp_path / f'a{suffix}').read_bytes() == encode_image(img, suffix)
            assert (tmp_path / f'b{suffix}').read_bytes() == encode_image(img, suffix)

    def test_input_without_metadata_gives_none(self, tmp_path):
        src = save(tmp_path / 'plain.png', gradient())
        meta = read_metadata(src)
        assert not meta and meta.with_exposure_time(0.5) == meta

    def test_large_icc_profile_is_split_over_jpeg_segments(self, tmp_path, icc):
        big = icc + bytes(range(256)) * 600  # 150 KB: three APP2 segments
        meta = ImageMetadata(icc_profile=big, source='big')
        data = embed_metadata(encode_image(gradient(), '.jpg'), '.jpg', meta, (40, 30))
        assert data.count(b'ICC_PROFILE\x00') == 3
        with Image.open(io.BytesIO(data)) as im:
            assert im.info['icc_profile'] == big
        for suffix in ('.png', '.tif'):
            data = embed_metadata(encode_image(gradient(), suffix), suffix, meta, (40, 30))
            with Image.open(io.BytesIO(data)) as im:
                assert im.info['icc_profile'] == big

    def test_pixel_dimensions_are_the_outputs(self, tmp_path):
        src = save(tmp_path / 'in.jpg', gradient(), exif=camera_exif(size=(4000, 3000)))
        write_image(tmp_path / 'out.png', gradient(12, 20), read_metadata(src))
        sub = pillow_exif(tmp_path / 'out.png')[2]
        assert (sub[PIXEL_X], sub[PIXEL_Y]) == (20, 12)

    def test_tiff_input_keeps_no_storage_tags_of_its_own(self, tmp_path, icc):
        """A TIFF input's IFD0 holds its strip layout and ICC: none of it is EXIF to carry."""
        src = save(tmp_path / 'in.tif', gradient(), icc_profile=icc, exif=camera_exif(0.5))
        meta = read_metadata(src)
        ifd0 = Image.Exif()
        ifd0.load(meta.exif)
        assert set(ifd0) == {MAKE, MODEL, DATETIME, EXIF_IFD}
        out = tmp_path / 'out.tif'
        write_image(out, gradient().astype(np.uint16) * 257, meta)
        _, tags, _, _ = pillow_exif(out)
        assert tags[259] == 5 and tags[258] == (16, 16, 16)  # OpenCV's LZW and depth stay

    def test_formats_without_metadata_warn_once(self, tmp_path, icc, monkeypatch):
        monkeypatch.setattr(metadata_module, '_warned', set())
        meta = ImageMetadata(icc_profile=icc, source='ref.jpg')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            write_image(tmp_path / 'a.bmp', gradient(), meta)
            write_image(tmp_path / 'b.bmp', gradient(), meta)
            write_image(tmp_path / 'c.bmp', gradient())
        found = [str(w.message) for w in caught if issubclass(w.category, MetadataWarning)]
        assert len(found) == 1 and '.bmp' in found[0] and 'ref.jpg' in found[0]
        np.testing.assert_array_equal(read_image(tmp_path / 'a.bmp'), gradient())


class TestOrientation:
    @pytest.mark.parametrize('orientation', range(1, 9))
    def test_read_upright_like_pillow(self, tmp_path, orientation):
        src = save(tmp_path / 'in.png', gradient(), exif=camera_exif(orientation=orientation))
        with Image.open(src) as im:
            upright = np.asarray(ImageOps.exif_transpose(im))
        np.testing.assert_array_equal(read_image(src), upright)

    def test_jpeg_turned_once_and_written_as_1(self, tmp_path, icc):
        src = save(tmp_path / 'in.jpg', gradient(), exif=camera_exif(orientation=6),
                   quality=100)
        img = read_image(src)
        with Image.open(src) as im:
            upright = np.asarray(ImageOps.exif_transpose(im)).astype(int)
        assert img.shape == (40, 30, 3)
        assert np.abs(img - upright).mean() < 1.5           # same picture (two JPEG decoders)
        assert np.abs(np.rot90(img, 2) - upright).mean() > 20  # not turned twice
        for suffix in ('.jpg', '.png', '.tif'):
            out = tmp_path / f'out{suffix}'
            write_image(out, img, read_metadata(src))
            assert pillow_exif(out)[1][ORIENTATION] == 1
            assert read_image(out).shape == img.shape  # not turned again on reading


def exif_with_thumbnail(thumbnail):
    """APP1 payload ('Exif\\0\\0' + little-endian TIFF) whose IFD0 holds Make and whose IFD1
    holds a JPEG thumbnail, as cameras write it (Pillow writes no IFD1)."""
    make = b'TestCam\x00'
    ifd1_at = 8 + 2 + 12 + 4 + len(make)
    thumb_at = ifd1_at + 2 + 2 * 12 + 4
    tiff = b'II*\x00' + struct.pack('<I', 8)
    tiff += struct.pack('<HHHII', 1, MAKE, 2, len(make), 8 + 2 + 12 + 4)
    tiff += struct.pack('<I', ifd1_at)
    tiff += make
    tiff += struct.pack('<H', 2) + struct.pack('<HHII', 0x0201, 4, 1, thumb_at)
    tiff += struct.pack('<HHII', 0x0202, 4, 1, len(thumbnail)) + struct.pack('<I', 0)
    return b'Exif\x00\x00' + tiff + thumbnail


def test_thumbnail_is_dropped(tmp_path):
    thumbnail = encode_image(np.full((16, 16, 3), 200, np.uint8), '.jpg')
    src = save(tmp_path / 'in.jpg', gradient(), exif=exif_with_thumbnail(thumbnail))
    assert pillow_exif(src)[3][0x0202] == len(thumbnail)  # the input has one
    for suffix in ('.jpg', '.png', '.tif'):
        out = tmp_path / f'out{suffix}'
        write_image(out, gradient(), read_metadata(src))
        _, ifd0, _, ifd1 = pillow_exif(out)
        assert ifd0[MAKE] == 'TestCam' and ifd1 == {}
        assert thumbnail not in out.read_bytes()


# --- the commands --------------------------------------------------------------------------

@pytest.fixture
def photos(tmp_path, icc):
    """dark.png and bright.png 4 EV apart, with the ICC profile and a camera's EXIF (times
    1/64 s and 1/4 s); the dark one also in dark.jpg."""
    frames = render_frames()
    dark = save(tmp_path / 'dark.png', frames[0], icc_profile=icc, exif=camera_exif(T_DARK))
    bright = save(tmp_path / 'bright.png', frames[-1], exif=camera_exif(T_BRIGHT))
    return dark, bright


class TestCommands:
    def test_y0_exposure_time_is_the_target(self, photos, tmp_path, icc):
        dark, bright = photos
        for target, out in ((None, 'y0.png'), (0.1, 'y0_0.1.tif')):
            argv = ['y0', dark, bright, '-o', tmp_path / out]
            assert run(argv + (['--target', target] if target else []))[0] == 0
            got_icc, ifd0, sub, _ = pillow_exif(tmp_path / out)
            assert got_icc == icc and ifd0[MAKE] == 'TestCam'
            expected = target or math.sqrt(T_DARK * T_BRIGHT)  # 1/16 s
            assert float(sub[EXPOSURE_TIME]) == pytest.approx(expected, rel=1e-6)

    def test_interpolate_output_carries_the_target_time(self, photos, tmp_path, icc):
        from test_inference import TINY_DENOISE, write_experiment
        ckpt, _ = write_experiment(tmp_path / 'run', TINY_DENOISE)
        dark, bright = photos
        out = tmp_path / 'mid.jpg'
        assert run(['interpolate', dark, bright, '-o', out, '--model', ckpt, '--target', 0.05,
                    '--quality', 90])[0] == 0
        got_icc, ifd0, sub, _ = pillow_exif(out)
        assert got_icc == icc and ifd0[MODEL] == 'Model 7'
        assert float(sub[EXPOSURE_TIME]) == pytest.approx(0.05)

    def test_estimated_times_write_no_exposure_time(self, tmp_path):
        frames = render_frames()
        dark = save(tmp_path / 'd.png', frames[0], exif=camera_exif())
        bright = save(tmp_path / 'b.png', frames[-1], exif=camera_exif())
        assert run(['y0', dark, bright, '-o', tmp_path / 'y0.png'])[0] == 0
        _, ifd0, sub, _ = pillow_exif(tmp_path / 'y0.png')
        assert ifd0[MAKE] == 'TestCam' and EXPOSURE_TIME not in sub

    def test_fused_image_has_the_reference_profile_and_no_exposure_time(self, photos, tmp_path,
                                                                          icc):
        dark, bright = photos
        out = tmp_path / 'fused.jpg'
        assert run(['fuse', dark, bright, '-o', out, '--imf-only'])[0] == 0
        got_icc, ifd0, sub, _ = pillow_exif(out)
        assert got_icc == icc
        assert (ifd0[MAKE], ifd0[DATETIME]) == ('TestCam', '2026:12:07 10:11:12')
        assert EXPOSURE_TIME not in sub

    def test_quality_sets_the_jpeg_size(self, photos, tmp_path):
        dark, bright = photos
        sizes = {}
        for quality in (None, 20, 60, 95):
            out = tmp_path / f'q{quality}.jpg'
            extra = ['--quality', quality] if quality else []
            assert run(['fuse', dark, bright, '-o', out, '--pair-only', *extra])[0] == 0
            sizes[quality] = out.stat().st_size
        assert sizes[20] < sizes[60] < sizes[95]
        # the default is OpenCV's own: outputs are unchanged when --quality is not given
        assert (tmp_path / 'qNone.jpg').read_bytes() == (tmp_path / 'q95.jpg').read_bytes()

    @pytest.mark.parametrize('command', ['y0', 'fuse'])
    def test_quality_of_a_png_output_is_refused(self, photos, tmp_path, command):
        dark, bright = photos
        extra = ['--imf-only'] if command == 'fuse' else []
        refused([command, dark, bright, '-o', tmp_path / 'out.png', '--quality', 80, *extra],
                '--quality', 'out.png')
        assert not (tmp_path / 'out.png').exists()

    @pytest.mark.parametrize('command', ['y0', 'fuse'])
    def test_same_file_twice_is_refused(self, photos, tmp_path, command):
        dark, _ = photos
        link = tmp_path / 'link.png'
        link.symlink_to(dark)
        extra = ['--imf-only'] if command == 'fuse' else []
        for other in (dark, link):
            err = refused([command, dark, other, '-o', tmp_path / 'out.png', *extra], dark, other)
            assert 'same file' in err
        assert not (tmp_path / 'out.png').exists()

    @pytest.mark.parametrize('command', ['y0', 'fuse'])
    def test_identical_pixels_are_refused(self, photos, tmp_path, command):
        dark, _ = photos
        copy = save(tmp_path / 'copy.png', read_image(dark))
        extra = ['--imf-only'] if command == 'fuse' else []
        err = refused([command, dark, copy, '-o', tmp_path / 'out.png', *extra], dark, copy)
        assert 'identical pixels' in err

    def test_an_output_without_metadata_is_one_warning_line(self, photos, tmp_path,
                                                              monkeypatch):
        monkeypatch.setattr(metadata_module, '_warned', set())
        dark, bright = photos
        rc, _, err = run(['fuse', dark, bright, '-o', tmp_path / 'f.bmp', '--pair-only'])
        assert rc == 0 and (tmp_path / 'f.bmp').is_file()
        lines = [line for line in err.splitlines() if 'warning' in line]
        assert lines == [f'expinterp: warning: .bmp outputs cannot carry the ICC profile and '
                         f'EXIF of {dark}; write .jpg, .png or .tif to keep them']

    def test_same_folder_twice_is_refused(self, photos, tmp_path):
        err = refused(['fuse', tmp_path, tmp_path, '-o', tmp_path / 'out', '--imf-only'],
                      tmp_path)
        assert 'same folder' in err
