"""EXIF exposure: ExposureTime scaled by ISO and aperture to one sensor-exposure scale."""
import numpy as np
import pytest
from PIL import Image

from expinterp_plugin.exposure.brackets import bracket_exposures
from expinterp_plugin.exposure.metadata import equivalent_exposure_times, exif_exposure
from expinterp_plugin.pair import read_pair


def write_jpeg(path, level, time=None, iso=None, fnumber=None):
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    for tag, value in ((0x829A, time), (0x8827, iso), (0x829D, fnumber)):
        if value is not None:
            sub[tag] = value
    ramp = np.linspace(0, 1, 64)[None, :, None] * np.ones((48, 1, 3))
    Image.fromarray((np.clip(ramp * level, 0, 1) * 255).astype(np.uint8)).save(
        path, exif=exif.tobytes())
    return path


def test_iso_and_aperture_scale_the_exposure_time(tmp_path):
    dark = write_jpeg(tmp_path / 'd.jpg', 0.3, 1 / 100, 25, 2.8)
    bright = write_jpeg(tmp_path / 'b.jpg', 1.0, 1 / 50, 200, 5.6)
    assert exif_exposure(dark) == pytest.approx((0.01, 25, 2.8))
    # x2 time, x8 ISO, 2 stops smaller aperture (x1/4): 4 times the dark frame's exposure
    assert equivalent_exposure_times([dark, bright]) == pytest.approx([0.01, 0.04])
    times = read_pair(dark, bright).times
    assert (times.source, times.t_dark, times.t_bright) == ('exif', pytest.approx(0.01),
                                                            pytest.approx(0.04))


def test_a_factor_only_counts_when_every_file_records_it(tmp_path):
    dark = write_jpeg(tmp_path / 'd.jpg', 0.3, 1 / 100, 100)
    bright = write_jpeg(tmp_path / 'b.jpg', 1.0, 1 / 25, None, 4.0)
    assert equivalent_exposure_times([dark, bright]) == pytest.approx([0.01, 0.04])
    no_time = write_jpeg(tmp_path / 'n.jpg', 1.0, None, 100)
    assert equivalent_exposure_times([dark, no_time]) is None


def test_brackets_read_iso_varying_frames_on_one_scale(tmp_path):
    for i, (time, iso) in enumerate([(1 / 100, 100), (1 / 100, 400), (1 / 50, 800)]):
        write_jpeg(tmp_path / f'{i}.jpg', 0.2 * (i + 1), time, iso)
    times = [t for _, t in bracket_exposures(tmp_path)]
    assert times == pytest.approx([0.01, 0.04, 0.16])


def test_a_named_list_file_wins_over_exif(tmp_path):
    """Cameras write wrong EXIF (a Canon 30D sequence records 0.05 s for every frame): times the
    user lists with --exposures are taken instead."""
    dark = write_jpeg(tmp_path / 'd.jpg', 0.3, 0.05, 100)
    bright = write_jpeg(tmp_path / 'b.jpg', 1.0, 0.05, 100)
    listing = tmp_path / 'exposures.txt'
    listing.write_text('d.jpg 0.003125\nb.jpg 0.05\n')
    times = read_pair(dark, bright, exposures=listing).times
    assert (times.source, times.t_dark, times.t_bright) == ('exposures file', 0.003125, 0.05)
    with pytest.raises(ValueError, match='must be shorter'):  # EXIF alone: both 0.05 s
        read_pair(dark, bright).times
