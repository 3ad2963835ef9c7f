"""ExposureTripletDataset: modes, y0, paired crops and flips, disk vs LMDB, CRF caching, errors."""
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.data import build_dataset
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from expinterp_plugin import exposure
from expinterp_plugin.data.exposure_triplet_dataset import ExposureTripletDataset, scene_of
from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.io import ImageError, write_image
from expinterp_plugin.triplet_store import write_triplet_lmdbs

TIMES = (1 / 64, 1 / 16, 1 / 4)  # low, mid, high: 4 EV apart, mid at the geometric mean


def srgb_encode(linear):
    """Linear exposure (clipped to [0, 1]) -> sRGB-encoded value in [0, 1] (IEC 61966-2-1)."""
    v = np.clip(linear, 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def scene_radiance(h, w, seed):
    """Smooth positive radiance (H, W, 3) whose medium exposure spans ~0.005..2 (some clipping)."""
    import cv2
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(np.log(0.005), np.log(2.0), size=(h // 8 + 2, w // 8 + 2, 3))
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.exp(field) / TIMES[1]


def expose(radiance, t, dtype=np.uint8):
    """RGB codes of a camera with the sRGB response photographing ``radiance`` for ``t`` s."""
    return exposure.io.to_dtype(srgb_encode(radiance * t), dtype)


def write_triplets(root, names=('a', 'b'), size=(64, 64), dtype=np.uint8, times=TIMES,
                   frames_of=None):
    """A disk triplet layout under ``root``; returns {name: (low, mid, high)} RGB codes.

    ``frames_of(name, index)`` may supply the three frames instead of exposing a radiance map.
    """
    root = Path(root)
    made = {}
    for i, name in enumerate(names):
        if frames_of is None:
            radiance = scene_radiance(size[0], size[1], seed=i)
            frames = tuple(expose(radiance, t, dtype) for t in times)
        else:
            frames = frames_of(name, i)
        for frame, img in zip(FRAMES, frames):
            write_image(root / frame / f'{name}.png', img)
        made[name] = frames
    lines = [f'{n} {times[0]:.10g} {times[1]:.10g} {times[2]:.10g}' for n in names]
    (root / 'exposures.txt').write_text('\n'.join(lines) + '\n')
    return made


def write_lmdbs(root, keys):
    """BasicSR LMDBs {low,mid,high}.lmdb from the PNGs of a disk layout under ``root``."""
    root = Path(root)
    for frame in FRAMES:
        make_lmdb_from_imgs(str(root / frame), str(root / f'{frame}.lmdb'),
                            [f'{k}.png' for k in keys], list(keys))


def dataset_opt(root, **overrides):
    opt = {'name': 'triplets', 'type': 'ExposureTripletDataset', 'dataroot': str(root),
           'io_backend': {'type': 'disk'}, 'phase': 'val', 'mode': 'hybrid'}
    opt.update(overrides)
    return opt


def to_codes(t, levels=256):
    """float32 CHW [0, 1] tensor -> integer HWC codes (exact for values code / (levels - 1))."""
    return np.rint(t.numpy().transpose(1, 2, 0) * (levels - 1)).astype(np.int64)


def reference_mapper(frames, crf='estimate'):
    low, mid, high = frames
    if crf == 'estimate':
        crf = exposure.estimate_crf([low, high], [TIMES[0], TIMES[2]])
    return exposure.Y0Mapper(crf, TIMES[0], TIMES[2], t_target=TIMES[1])


@pytest.fixture
def triplets(tmp_path):
    return tmp_path, write_triplets(tmp_path)


class TestModes:

    @pytest.mark.parametrize('mode,channels', [('hybrid', 3), ('direct', 6), ('conditioned', 9)])
    def test_channels_ranges_and_dtypes(self, triplets, mode, channels):
        root, _ = triplets
        ds = build_dataset(dataset_opt(root, mode=mode, phase='train', gt_size=32,
                                       use_hflip=True, use_rot=True))
        sample = ds[0]
        assert sample['lq'].shape == (channels, 32, 32)
        assert sample['gt'].shape == (3, 32, 32)
        for key in ('lq', 'y0', 'gt'):
            assert sample[key].dtype == torch.float32
            assert 0 <= sample[key].min() and sample[key].max() <= 1
        # y0 is its own key in every mode; where it is an lq plane it is the first one
        assert sample['y0'].shape == (3, 32, 32)
        if mode != 'direct':
            assert torch.equal(sample['lq'][:3], sample['y0'])
        assert Path(sample['lq_path']).parent.name == 'low'
        assert Path(sample['gt_path']).parent.name == 'mid'

    def test_full_frames_at_val_are_y0_gt_and_inputs_in_rgb(self, triplets):
        root, made = triplets
        ds = ExposureTripletDataset(dataset_opt(root, mode='conditioned'))
        low, mid, high = made['a']
        sample = ds[0]
        lq = sample['lq'].numpy().transpose(1, 2, 0)
        expected_y0 = reference_mapper(made['a'])(low, high)
        np.testing.assert_array_equal(lq[..., :3], expected_y0)
        np.testing.assert_array_equal(to_codes(sample['lq'][3:6]), high)
        np.testing.assert_array_equal(to_codes(sample['lq'][6:9]), low)
        np.testing.assert_array_equal(to_codes(sample['gt']), mid)

    def test_y0_of_train_crop_equals_mapper_on_that_crop(self, triplets):
        root, made = triplets
        ds = ExposureTripletDataset(dataset_opt(root, mode='conditioned', phase='train',
                                                gt_size=24, use_hflip=True, use_rot=True))
        mapper = reference_mapper(made['b'])
        random.seed(3)
        for _ in range(6):
            sample = ds[1]
            bright = to_codes(sample['lq'][3:6]).astype(np.uint8)
            dark = to_codes(sample['lq'][6:9]).astype(np.uint8)
            np.testing.assert_array_equal(sample['lq'][:3].numpy().transpose(1, 2, 0),
                                          mapper(dark, bright))

    def test_direct_mode_lq_is_bright_then_dark_and_y0_is_separate(self, triplets):
        root, made = triplets
        sample = ExposureTripletDataset(dataset_opt(root, mode='direct'))[0]
        low, _, high = made['a']
        np.testing.assert_array_equal(to_codes(sample['lq'][:3]), high)
        np.testing.assert_array_equal(to_codes(sample['lq'][3:]), low)
        np.testing.assert_array_equal(sample['y0'].numpy().transpose(1, 2, 0),
                                      reference_mapper(made['a'])(low, high))

    def test_y0_is_close_to_the_real_mid_on_a_consistent_camera(self, triplets):
        root, _ = triplets
        sample = ExposureTripletDataset(dataset_opt(root, crf='srgb'))[0]
        error = (sample['lq'] - sample['gt']).abs()
        assert error.mean() < 2 / 255

    def test_t_target_geometric_and_seconds(self, tmp_path):
        times = (1 / 64, 1 / 20, 1 / 4)  # mid 0.3 EV off the geometric mean
        write_triplets(tmp_path, names=('a',), times=times)
        by_mid = ExposureTripletDataset(dataset_opt(tmp_path, crf='srgb'))
        geo = ExposureTripletDataset(dataset_opt(tmp_path, crf='srgb', t_target='geometric'))
        fixed = ExposureTripletDataset(dataset_opt(tmp_path, crf='srgb', t_target=1 / 8))
        assert by_mid.mappers[0].t_target == pytest.approx(1 / 20)
        assert geo.mappers[0].t_target == pytest.approx(1 / 16)
        assert fixed.mappers[0].t_target == pytest.approx(1 / 8)
        assert fixed[0]['lq'].mean() > geo[0]['lq'].mean() > by_mid[0]['lq'].mean()

    def test_sixteen_bit_frames_with_linear_preset(self, tmp_path):
        def linear16(name, i):
            radiance = scene_radiance(32, 32, seed=i) * TIMES[1]
            return tuple(exposure.io.to_dtype(np.clip(radiance * t / TIMES[1], 0, 1), np.uint16)
                         for t in TIMES)
        made = write_triplets(tmp_path, names=('a',), frames_of=linear16)
        sample = ExposureTripletDataset(dataset_opt(tmp_path, crf='linear', mode='direct'))[0]
        np.testing.assert_array_equal(to_codes(sample['gt'], 65536), made['a'][1])
        assert sample['lq'].shape == (6, 32, 32)
        # linear camera, no clipping at mid: y0 reproduces mid to a 16-bit rounding step or two
        unclipped = made['a'][2] < 65535
        diff = (sample['y0'] - sample['gt']).numpy().transpose(1, 2, 0)[unclipped]
        assert np.abs(diff).max() < 3 / 65535


def coordinate_frames(name, i, size=40):
    """Frames whose R and G encode column and row; B tells the frames apart."""
    ys, xs = np.mgrid[0:size, 0:size]
    return tuple(np.stack([xs, ys, np.full_like(xs, 60 + 60 * k)], axis=2).astype(np.uint8)
                 for k in range(3))


def dihedral_transforms(window):
    """The 8 flip/transpose variants of an (H, W, C) array."""
    variants = []
    for img in (window, window.transpose(1, 0, 2)):
        for flipped in (img, img[:, ::-1], img[::-1], img[::-1, ::-1]):
            variants.append(flipped)
    return variants


class TestPairedAugmentation:

    def test_three_frames_cropped_and_flipped_identically(self, tmp_path):
        made = write_triplets(tmp_path, names=('c',), frames_of=coordinate_frames)
        ds = ExposureTripletDataset(dataset_opt(tmp_path, mode='direct', phase='train',
                                                gt_size=16, use_hflip=True, use_rot=True,
                                                crf='srgb'))
        full = made['c'][0][..., :2].astype(np.int64)
        random.seed(0)
        seen_variants, seen_corners = set(), set()
        for _ in range(64):
            sample = ds[0]
            bright, dark = to_codes(sample['lq'][:3]), to_codes(sample['lq'][3:])
            mid = to_codes(sample['gt'])
            coords = mid[..., :2]
            np.testing.assert_array_equal(bright[..., :2], coords)
            np.testing.assert_array_equal(dark[..., :2], coords)
            assert (dark[..., 2] == 60).all() and (mid[..., 2] == 120).all() \
                and (bright[..., 2] == 180).all()
            left, top = coords[..., 0].min(), coords[..., 1].min()
            window = full[top:top + 16, left:left + 16]
            matches = [k for k, v in enumerate(dihedral_transforms(window))
                       if np.array_equal(v, coords)]
            assert len(matches) == 1, 'crop is not a flipped/rotated contiguous window'
            seen_variants.add(matches[0])
            seen_corners.add((top, left))
        assert len(seen_variants) == 8
        assert len(seen_corners) > 20

    def test_no_augmentation_unless_asked(self, tmp_path):
        made = write_triplets(tmp_path, names=('c',), frames_of=coordinate_frames)
        ds = ExposureTripletDataset(dataset_opt(tmp_path, mode='direct', phase='train',
                                                gt_size=16, crf='srgb'))
        full = made['c'][1][..., :2].astype(np.int64)
        for _ in range(10):
            coords = to_codes(ds[0]['gt'])[..., :2]
            left, top = coords[0, 0]
            np.testing.assert_array_equal(coords, full[top:top + 16, left:left + 16])


class TestLmdb:

    @pytest.mark.parametrize('phase_opt', [
        {'phase': 'val'}, {'phase': 'train', 'gt_size': 24, 'use_hflip': True, 'use_rot': True}])
    def test_disk_and_lmdb_give_identical_samples(self, triplets, phase_opt):
        root, made = triplets
        write_lmdbs(root, made)
        disk = ExposureTripletDataset(dataset_opt(root, mode='conditioned', **phase_opt))
        lmdb = ExposureTripletDataset(dataset_opt(root, mode='conditioned',
                                                  io_backend={'type': 'lmdb'}, **phase_opt))
        for index in range(len(disk)):
            random.seed(index)
            a = disk[index]
            random.seed(index)
            b = lmdb[index]
            assert torch.equal(a['lq'], b['lq']) and torch.equal(a['gt'], b['gt'])
            assert b['lq_path'] == b['gt_path'] == ('a', 'b')[index]

    @pytest.mark.parametrize('codec,dtype', [('ppm', np.uint8), ('ppm', np.uint16),
                                             ('png', np.uint16)])
    def test_write_triplet_lmdbs_round_trips_codes(self, tmp_path, codec, dtype):
        made = write_triplets(tmp_path, size=(40, 48), dtype=dtype)
        write_triplet_lmdbs(tmp_path, codec=codec)
        crf = 'srgb' if dtype == np.uint8 else 'linear'
        disk = ExposureTripletDataset(dataset_opt(tmp_path, mode='direct', crf=crf))
        lmdb = ExposureTripletDataset(dataset_opt(tmp_path, mode='direct', crf=crf,
                                                  io_backend={'type': 'lmdb'}))
        levels = np.iinfo(dtype).max + 1
        for index, name in enumerate(made):
            a, b = disk[index], lmdb[index]
            for key in ('lq', 'gt', 'y0'):
                assert torch.equal(a[key], b[key])
            np.testing.assert_array_equal(to_codes(b['gt'], levels), made[name][1])
        meta = (tmp_path / 'mid.lmdb' / 'meta_info.txt').read_text().split()
        assert meta[:2] == ['a.png', '(40,48,3)']

    def test_write_triplet_lmdbs_refuses_to_overwrite_and_unknown_keys(self, triplets):
        root, _ = triplets
        with pytest.raises(ImageError, match=r"exposures.txt: does not list ghost"):
            write_triplet_lmdbs(root, keys=['a', 'ghost'])
        write_triplet_lmdbs(root, keys=['a'])
        with pytest.raises(FileExistsError, match=r'low\.lmdb'):
            write_triplet_lmdbs(root, keys=['a'])
        with pytest.raises(ValueError, match='codec'):
            write_triplet_lmdbs(root, codec='jpeg')

    def test_sub_image_keys_share_one_crf_estimated_from_all_crops(self, tmp_path, monkeypatch):
        full = write_triplets(tmp_path / 'full', names=('s',))['s']
        crops = {f's_s{n:03d}': tuple(f[y:y + 32, x:x + 32] for f in full)
                 for n, (y, x) in enumerate([(0, 0), (0, 32), (32, 0), (32, 32)])}
        root = tmp_path / 'crops'
        write_triplets(root, names=tuple(crops), frames_of=lambda name, i: crops[name])
        write_lmdbs(root, crops)
        calls = count_estimates(monkeypatch)
        ds = ExposureTripletDataset(dataset_opt(root, io_backend={'type': 'lmdb'}))
        assert len(calls) == 1 and calls[0][0].shape == (64 * 64, 1, 3)
        assert len({id(m) for m in ds.mappers}) == 1
        whole = ExposureTripletDataset(dataset_opt(tmp_path / 'full'))
        np.testing.assert_allclose(ds.mappers[0].crf.g, whole.mappers[0].crf.g, atol=1e-9)

    def test_forked_workers_read_lmdb_and_never_estimate(self, triplets, monkeypatch):
        root, made = triplets
        write_lmdbs(root, made)
        ds = ExposureTripletDataset(dataset_opt(root, io_backend={'type': 'lmdb'}))
        in_process = [ds[i]['lq'] for i in range(len(ds))]

        def refuse(*args, **kwargs):
            raise AssertionError('CRF estimated after construction')
        monkeypatch.setattr(exposure, 'estimate_crf', refuse)
        loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2,
                                             multiprocessing_context='fork')
        from_workers = [batch['lq'][0] for batch in loader]
        assert all(torch.equal(a, b) for a, b in zip(in_process, from_workers))
        assert len(from_workers) == 2


def count_estimates(monkeypatch):
    """Record the image stacks passed to exposure.estimate_crf (the real one still runs)."""
    calls = []
    real = exposure.estimate_crf

    def counting(images, times, *args, **kwargs):
        calls.append(images)
        return real(images, times, *args, **kwargs)
    monkeypatch.setattr(exposure, 'estimate_crf', counting)
    return calls


class TestCrfSources:

    def test_estimated_once_per_scene_not_per_crop(self, triplets, monkeypatch):
        root, _ = triplets
        calls = count_estimates(monkeypatch)
        ds = ExposureTripletDataset(dataset_opt(root, phase='train', gt_size=16))
        for _ in range(20):
            ds[0], ds[1]
        assert len(calls) == 2

    def test_crf_file_per_scene_is_used_and_nothing_estimated(self, triplets, monkeypatch):
        root, _ = triplets
        srgb = exposure.preset_crf('srgb')
        exposure.save_crf(srgb, root / 'crf' / 'a.npy')
        exposure.save_crf(exposure.preset_crf('gamma2.2'), root / 'crf' / 'b.npy')
        calls = count_estimates(monkeypatch)
        ds = ExposureTripletDataset(dataset_opt(root))
        assert calls == []
        np.testing.assert_allclose(ds.mappers[0].crf.g, srgb.g)
        assert not np.allclose(ds.mappers[1].crf.g, srgb.g)

    def test_crf_option_overrides_files_and_scenes_share_a_table(self, triplets, monkeypatch):
        root, _ = triplets
        exposure.save_crf(exposure.preset_crf('gamma2.2'), root / 'crf' / 'a.npy')
        calls = count_estimates(monkeypatch)
        ds = ExposureTripletDataset(dataset_opt(root, crf='srgb'))
        assert calls == []
        assert ds.mappers[0] is ds.mappers[1]
        np.testing.assert_allclose(ds.mappers[0].crf.g, exposure.preset_crf('srgb').g)

    def test_thresholds_and_imf_reach_the_mapper(self, triplets):
        root, _ = triplets
        ds = ExposureTripletDataset(dataset_opt(root, crf='srgb', xi_l=0, xi_u=255,
                                                imf='sigmoid'))
        mapper = ds.mappers[0]
        assert (mapper.xi_l, mapper.xi_u, mapper.imf) == (0, 255, 'sigmoid')


class TestErrors:

    def test_missing_exposures_txt_is_named(self, triplets):
        root, _ = triplets
        (root / 'exposures.txt').unlink()
        with pytest.raises(ImageError, match='exposures.txt'):
            ExposureTripletDataset(dataset_opt(root))
        with pytest.raises(ImageError, match='exposures.txt'):
            ExposureTripletDataset(dataset_opt(root, io_backend={'type': 'lmdb'}))

    def test_missing_frame_is_named(self, triplets):
        root, _ = triplets
        (root / 'mid' / 'b.png').unlink()
        with pytest.raises(ImageError, match=r'mid.*b'):
            ExposureTripletDataset(dataset_opt(root))

    def test_missing_times_name_the_line(self, triplets):
        root, _ = triplets
        (root / 'exposures.txt').write_text('a 0.015625 0.0625 0.25\nb 0.015625 0.25\n')
        with pytest.raises(ImageError, match=r'exposures.txt:2'):
            ExposureTripletDataset(dataset_opt(root))

    def test_unordered_times_are_rejected(self, triplets):
        root, made = triplets
        (root / 'exposures.txt').write_text('a 0.25 0.0625 0.015625\n')
        with pytest.raises(ImageError, match="'a'"):
            ExposureTripletDataset(dataset_opt(root))

    def test_mismatched_sizes_name_both_files(self, triplets):
        root, made = triplets
        write_image(root / 'mid' / 'a.png', made['a'][1][:48])
        ds = ExposureTripletDataset(dataset_opt(root, crf='srgb'))
        with pytest.raises(ImageError, match=r'mid/a\.png is 64x48.*low/a\.png is 64x64'):
            ds[0]
        write_image(root / 'high' / 'b.png', made['b'][2][:, :40])
        with pytest.raises(ImageError, match=r'high/b\.png is 40x64'):
            ExposureTripletDataset(dataset_opt(root))

    def test_missing_lmdb_key_is_named(self, triplets):
        root, made = triplets
        write_lmdbs(root, made)
        with open(root / 'exposures.txt', 'a') as f:
            f.write('ghost 0.015625 0.0625 0.25\n')
        with pytest.raises(ImageError, match=r"low\.lmdb: no key 'ghost'"):
            ExposureTripletDataset(dataset_opt(root, io_backend={'type': 'lmdb'}))

    def test_crop_larger_than_frame_names_the_file(self, triplets):
        root, _ = triplets
        ds = ExposureTripletDataset(dataset_opt(root, crf='srgb', phase='train', gt_size=96))
        with pytest.raises(ValueError, match=r'mid/a\.png'):
            ds[0]

    @pytest.mark.parametrize('override,message', [
        ({'mode': 'fused'}, 'mode'), ({'phase': 'train'}, 'gt_size'),
        ({'io_backend': {'type': 'memcached'}}, 'io_backend')])
    def test_bad_options(self, triplets, override, message):
        root, _ = triplets
        with pytest.raises(ValueError, match=message):
            ExposureTripletDataset(dataset_opt(root, **override))


def test_scene_of_strips_sub_image_suffix():
    assert scene_of('room_01_02_03_s007') == 'room_01_02_03'
    assert scene_of('room_s') == 'room_s'
    assert scene_of('sunset') == 'sunset'
