"""Numeric core: image I/O, bracket folders, triplet selection and the triplet-layout writer."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.brackets import (bracket_exposures, read_triplet_layout,
                                                select_triplets)
from expinterp_plugin.exposure.crf import load_crf
from expinterp_plugin.exposure.estimate import estimate_crf
from expinterp_plugin.exposure.io import ImageError, read_image, read_table, write_image
from expinterp_plugin.exposure.prepare import crop_positions, prepare_triplets


# The tiny bracket: 64x48 frames one stop apart from 1/64 s to 1/4 s (one 4 EV triplet: 0, 2, 4).
TIMES = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4)
SRGB_CAMERA = synth.CameraParams(gamma=(2.4, 2.4, 2.4), offset=0.055, s_mix=0.0, s_slope=5.0,
                                 s_pivot=0.5)


def render_frames(size=(64, 48), times=TIMES, seed=0):
    """RGB uint8 (H, W, 3) frames of one synthetic scene through an sRGB camera, one per time."""
    radiance = synth.render_scene(seed, size)
    scale = synth.choose_mid_exposure(radiance, SRGB_CAMERA) / float(np.sqrt(times[0] * times[-1]))
    return synth.render_bracket(radiance, [t * scale for t in times], SRGB_CAMERA,
                                np.random.default_rng(seed))


def write_bracket(folder, frames=None, times=TIMES, listing=True):
    """``folder/fNN.png`` frames and an exposures.txt; returns the frames by file name."""
    folder = Path(folder)
    frames = render_frames(times=times) if frames is None else frames
    named = {f'f{i:02d}.png': img for i, img in enumerate(frames)}
    for name, img in named.items():
        write_image(folder / name, img)
    if listing:
        lines = [f'{name} {t:.10g}' for name, t in zip(named, times)]
        (folder / 'exposures.txt').write_text('\n'.join(lines) + '\n')
    return named


@pytest.fixture(scope='module')
def bracket_src(tmp_path_factory):
    """src/scene/ holding the five-frame tiny bracket; returns (src, frames by file name)."""
    src = tmp_path_factory.mktemp('brackets')
    return src, write_bracket(src / 'scene')


# --- image I/O ----------------------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_write_then_read_is_lossless_and_rgb(tmp_path, dtype):
    img = np.random.default_rng(0).integers(0, np.iinfo(dtype).max + 1, (5, 7, 3), dtype=dtype)
    write_image(tmp_path / 'x.png', img)
    back = read_image(tmp_path / 'x.png')
    assert back.dtype == dtype and np.array_equal(back, img)
    # On disk the file is BGR, as every other OpenCV user expects.
    assert np.array_equal(cv2.imread(str(tmp_path / 'x.png'), cv2.IMREAD_UNCHANGED), img[..., ::-1])
    assert [p.name for p in tmp_path.iterdir()] == ['x.png']


def test_grey_and_alpha_images_become_rgb(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    cv2.imwrite(str(tmp_path / 'grey.png'), grey)
    assert np.array_equal(read_image(tmp_path / 'grey.png'), np.repeat(grey[..., None], 3, axis=2))
    bgra = np.random.default_rng(1).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'alpha.png'), bgra)
    assert np.array_equal(read_image(tmp_path / 'alpha.png'), bgra[..., 2::-1])


def test_unreadable_and_missing_images_are_named(tmp_path):
    (tmp_path / 'garbage.png').write_bytes(b'\x89PNG not really' * 10)
    with pytest.raises(ImageError, match=r'garbage\.png: not a readable image'):
        read_image(tmp_path / 'garbage.png')
    with pytest.raises(ImageError, match=r'absent\.png: no such file'):
        read_image(tmp_path / 'absent.png')


@pytest.mark.parametrize('img', [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.int32)])
def test_writing_a_non_integer_code_array_leaves_no_file(tmp_path, img):
    with pytest.raises(ImageError, match='uint8 or uint16'):
        write_image(tmp_path / 'out.png', img)
    assert list(tmp_path.iterdir()) == []


def test_exposure_table_errors_name_file_and_line(tmp_path):
    path = tmp_path / 'exposures.txt'
    path.write_text('# comment\n\na.png 0.5\nb.png\n')
    with pytest.raises(ImageError, match=r'exposures\.txt:4: expected a name and 1'):
        read_table(path, 1)
    path.write_text('a.png fast\n')
    with pytest.raises(ImageError, match=r'exposures\.txt:1: not a number'):
        read_table(path, 1)
    path.write_text('a.png 0\n')
    with pytest.raises(ImageError, match=r'exposures\.txt:1: exposure times must be finite and positive'):
        read_table(path, 1)
    path.write_text('a.png 0.25 # quarter\n')
    assert read_table(path, 1) == {'a.png': (0.25,)}


# --- bracket folders ----------------------------------------------------------------------------

def test_bracket_exposures_are_sorted_by_time(tmp_path):
    frames = render_frames(size=(16, 12))
    write_bracket(tmp_path, frames)
    listing = (tmp_path / 'exposures.txt').read_text().splitlines()
    (tmp_path / 'exposures.txt').write_text('\n'.join(reversed(listing)) + '\n')
    result = bracket_exposures(tmp_path)
    assert [p.name for p, _ in result] == [f'f{i:02d}.png' for i in range(5)]
    assert [t for _, t in result] == pytest.approx(TIMES)


def test_bracket_times_come_from_exif_without_a_listing(tmp_path):
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational
    for i, denominator in enumerate((64, 4)):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = IFDRational(1, denominator)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f'{i}.jpg', exif=exif)
    assert [t for _, t in bracket_exposures(tmp_path)] == [1 / 64, 1 / 4]


def test_bracket_without_times_names_the_frame(tmp_path):
    write_bracket(tmp_path, render_frames(size=(16, 12)), listing=False)
    with pytest.raises(ImageError, match=r'f00\.png: no exposure time \(not in exposures\.txt'):
        bracket_exposures(tmp_path)


def test_bracket_listing_a_missing_frame_names_it(tmp_path):
    write_bracket(tmp_path, render_frames(size=(16, 12)))
    (tmp_path / 'f03.png').unlink()
    with pytest.raises(ImageError, match=r'exposures\.txt: lists files that do not exist: f03'):
        bracket_exposures(tmp_path)


def test_bracket_with_two_frames_at_one_time_is_refused(tmp_path):
    write_bracket(tmp_path, render_frames(size=(16, 12)), times=(1, 2, 2, 4, 8))
    with pytest.raises(ImageError, match='share one exposure time'):
        bracket_exposures(tmp_path)


def test_triplet_selection_reproduces_the_manifest(shared_data):
    manifest = json.loads(shared_data('real-brackets', 'manifest.json').read_text())
    assert len(manifest['sequences']) >= 4
    for sequence in manifest['sequences']:
        found = select_triplets(sequence['exposure_times_s'])
        assert [list(t) for t in found] == sequence['triplets_4ev'], sequence['id']


def test_triplet_selection_tolerances():
    times = [2.0**e for e in (0, 1, 2, 3, 4)]
    assert select_triplets(times) == [(0, 2, 4)]
    assert select_triplets(times, ev=2.0) == [(0, 1, 2), (1, 2, 3), (2, 3, 4)]
    # A middle frame 0.3 stops off the geometric mean only passes a looser mid tolerance.
    off = [1.0, 2.0**2.3, 16.0]
    assert select_triplets(off) == [] and select_triplets(off, mid_tol=0.35) == [(0, 1, 2)]
    assert select_triplets([1.0, 4.0, 2.0**4.2]) == [(0, 1, 2)]
    assert select_triplets([1.0, 4.0, 2.0**4.3]) == []


# --- triplet layout -----------------------------------------------------------------------------

def test_prepare_writes_the_triplet_layout_with_a_pair_crf(bracket_src, tmp_path):
    src, frames = bracket_src
    summary = prepare_triplets(src, tmp_path / 'out')
    root = tmp_path / 'out'
    name = 'scene_00_02_04'
    assert summary == {'root': str(root), 'triplets': 1, 'samples': 1, 'scenes': [name],
                       'lmdb': False}
    assert sorted(p.name for p in root.iterdir()) == ['.expinterp-prepare.json', 'crf',
                                                      'exposures.txt', 'high', 'low', 'mid']
    for folder, source in (('low', 'f00.png'), ('mid', 'f02.png'), ('high', 'f04.png')):
        assert np.array_equal(read_image(root / folder / f'{name}.png'), frames[source])
    (triplet,) = read_triplet_layout(root)
    assert (triplet.name, triplet.t_low, triplet.t_mid, triplet.t_high) == (name, *TIMES[::2])
    expected = estimate_crf([frames['f00.png'], frames['f04.png']], [TIMES[0], TIMES[4]])
    np.testing.assert_allclose(load_crf(triplet.crf).g, expected.g)
    assert [p.name for p in tmp_path.iterdir()] == ['out']


@pytest.mark.parametrize('crop, step', [(32, None), (32, 24), (40, 16)])
def test_prepare_crops_cover_the_whole_image(bracket_src, tmp_path, crop, step):
    src, frames = bracket_src
    prepare_triplets(src, tmp_path / 'out', crop=crop, step=step, crf='srgb')
    triplets = read_triplet_layout(tmp_path / 'out')
    rows, cols = crop_positions(48, crop, step or crop), crop_positions(64, crop, step or crop)
    assert [t.name for t in triplets] == [f'scene_00_02_04_s{n:03d}'
                                          for n in range(len(rows) * len(cols))]
    covered = np.zeros((48, 64), int)
    for t, (y, x) in zip(triplets, [(y, x) for y in rows for x in cols]):
        low = read_image(t.low)
        assert low.shape == (crop, crop, 3)
        assert np.array_equal(low, frames['f00.png'][y:y + crop, x:x + crop])
        assert np.array_equal(read_image(t.high), frames['f04.png'][y:y + crop, x:x + crop])
        assert load_crf(t.crf).name == str(t.crf)
        covered[y:y + crop, x:x + crop] += 1
    assert covered.min() >= 1


def test_crop_positions_end_flush_with_the_image():
    assert crop_positions(48, 32, 32) == [0, 16]
    assert crop_positions(64, 32, 24) == [0, 24, 32]
    assert crop_positions(20, 32, 32) == [0]


def test_prepare_downscales_to_max_side_and_can_skip_the_crf(bracket_src, tmp_path):
    src, _ = bracket_src
    prepare_triplets(src, tmp_path / 'out', max_side=32, crf='none')
    (triplet,) = read_triplet_layout(tmp_path / 'out')
    assert read_image(triplet.mid).shape == (24, 32, 3)
    assert triplet.crf is None and not (tmp_path / 'out' / 'crf').exists()


def test_prepare_with_a_bracket_crf_and_workers_matches_one_process(bracket_src, tmp_path):
    src, _ = bracket_src
    prepare_triplets(src, tmp_path / 'one', crf='bracket', crop=32)
    prepare_triplets(src, tmp_path / 'two', crf='bracket', crop=32, workers=2)
    one = {p.relative_to(tmp_path / 'one'): p.read_bytes() for p in (tmp_path / 'one').rglob('*')
           if p.is_file()}
    two = {p.relative_to(tmp_path / 'two'): p.read_bytes() for p in (tmp_path / 'two').rglob('*')
           if p.is_file()}
    assert one == two and len(one) == 4 * 4 + 2  # + exposures.txt and the manifest


def test_prepare_fits_a_bracket_crf_once_per_bracket(tmp_path, monkeypatch):
    from expinterp_plugin.exposure import prepare
    src = tmp_path / 'src'
    frames = write_bracket(src / 'scene')
    calls, original = [], prepare.estimate_crf
    monkeypatch.setattr(prepare, 'estimate_crf',
                        lambda *args, **kwargs: calls.append(len(args[0])) or original(*args,
                                                                                   **kwargs))
    summary = prepare_triplets(src, tmp_path / 'out', crf='bracket', ev=2.0)
    assert summary['triplets'] == 3 and calls == [5]
    # a second run in the same process reads the (changed) frames again
    write_image(src / 'scene' / 'f00.png', frames['f01.png'] // 2)
    prepare_triplets(src, tmp_path / 'again', crf='bracket', ev=2.0)
    assert calls == [5, 5]


def test_prepare_accepts_every_pair_estimator(bracket_src, tmp_path):
    src, frames = bracket_src
    prepare_triplets(src, tmp_path / 'out', crf='pair:polynomial')
    (triplet,) = read_triplet_layout(tmp_path / 'out')
    expected = estimate_crf([frames['f00.png'], frames['f04.png']], [TIMES[0], TIMES[4]],
                            method='polynomial')
    np.testing.assert_allclose(load_crf(triplet.crf).g, expected.g)


def test_prepare_refuses_a_non_empty_destination_unless_overwriting(bracket_src, tmp_path):
    src, _ = bracket_src
    dst = tmp_path / 'out'
    dst.mkdir()
    (dst / 'keep.txt').write_text('mine')
    with pytest.raises(ImageError, match=r'out: exists and is not empty'):
        prepare_triplets(src, dst)
    # --overwrite replaces only prepare's own output (issue 9): keep.txt is the user's.
    with pytest.raises(ImageError, match=r'out: not written by expinterp prepare'):
        prepare_triplets(src, dst, overwrite=True, crf='none')
    assert [p.name for p in dst.iterdir()] == ['keep.txt']
    (dst / 'keep.txt').unlink()
    prepare_triplets(src, dst, crf='none')
    prepare_triplets(src, dst, overwrite=True, crf='none')
    assert sorted(p.name for p in dst.iterdir()) == ['.expinterp-prepare.json', 'exposures.txt',
                                                     'high', 'low', 'mid']
    (tmp_path / 'file').write_text('not a folder')
    with pytest.raises(ImageError, match=r'file: exists and is not a folder'):
        prepare_triplets(src, tmp_path / 'file', overwrite=True)


def test_failed_prepare_leaves_no_output_and_no_temp_folder(tmp_path):
    src = tmp_path / 'src'
    write_bracket(src / 'scene', render_frames(size=(16, 12)))
    (src / 'scene' / 'f04.png').write_bytes(b'garbage')
    with pytest.raises(ImageError, match=r'f04\.png: not a readable image'):
        prepare_triplets(src, tmp_path / 'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src']


def test_prepare_refuses_frames_of_different_sizes(tmp_path):
    src = tmp_path / 'src'
    frames = render_frames(size=(16, 12))
    frames[2] = frames[2][:10]
    write_bracket(src / 'scene', frames)
    with pytest.raises(ImageError, match=r'f02\.png: size/bit depth \(10, 16, 3\)'):
        prepare_triplets(src, tmp_path / 'out')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src']


def test_prepare_without_a_4_ev_triplet_says_so(tmp_path):
    src = tmp_path / 'src'
    write_bracket(src / 'scene', render_frames(size=(16, 12), times=TIMES[:3]), times=TIMES[:3])
    with pytest.raises(ImageError, match='no 4.0 EV triplets'):
        prepare_triplets(src, tmp_path / 'out')
    with pytest.raises(ImageError, match='not a folder'):
        prepare_triplets(tmp_path / 'nothing', tmp_path / 'out')


def test_reading_a_broken_layout_names_the_problem(bracket_src, tmp_path):
    src, _ = bracket_src
    with pytest.raises(ImageError, match=r'exposures\.txt: missing'):
        read_triplet_layout(tmp_path)
    root = tmp_path / 'out'
    prepare_triplets(src, root, crf='none')
    (root / 'mid' / 'scene_00_02_04.png').unlink()
    with pytest.raises(ImageError, match=r"mid/scene_00_02_04\.\*: missing frame of scene"):
        read_triplet_layout(root)
    (root / 'exposures.txt').write_text('scene_00_02_04 0.25 0.0625 0.015625\n')
    with pytest.raises(ImageError, match='not increasing low < mid < high'):
        read_triplet_layout(root)


# --- real data ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_brackets_linear_imf_beats_geomean_and_sigmoid(tmp_path, shared_data):
    from expinterp_plugin.evaluation import evaluate
    brackets = shared_data('real-brackets', 'manifest.json').parent
    root = tmp_path / 'real256'
    summary = prepare_triplets(brackets, root, max_side=256, crf='none')
    assert summary['triplets'] == 23
    psnr = {method: evaluate(root, method, 'pair')['mean']['psnr']
            for method in ('imf-linear', 'imf-sigmoid', 'geomean')}
    # Measured at 256 px: 29.16 (linear), 26.43 (sigmoid), 27.01 dB (geomean); the lead's 1024 px
    # figures are 28.36, 25.88, 25.85 dB.
    assert psnr['imf-linear'] > 28
    assert psnr['imf-linear'] > psnr['geomean'] + 1.0
    assert psnr['imf-linear'] > psnr['imf-sigmoid'] + 1.5
