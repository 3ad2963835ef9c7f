"""The MEFB protocol (expinterp_plugin/mefb.py) and its benchmark (benchmarks/mefb.py)."""
import sys
from pathlib import Path

import numpy as np
import pytest

from expinterp_plugin import mefb
from expinterp_plugin.exposure import synth
from expinterp_plugin.exposure.fusion import mertens_fuse
from expinterp_plugin.exposure.io import read_image, write_image
from expinterp_plugin.exposure.fusion_quality import mef_ssim

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def benchmark():
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        import mefb as module
        yield module
    finally:
        sys.path.remove(str(REPO / 'benchmarks'))


@pytest.mark.slow
def test_reproduces_the_24_stored_per_pair_values(shared_data):
    """MEF-SSIM by MEFB's protocol on fused_sample/ vs evaluationMetrics.mat (5 decimals)."""
    data = shared_data('mefb', mefb.SCORES_FILE).parent
    names = mefb.pair_names(data)
    pairs = {p.name: p for p in mefb.read_pairs(data)}
    stored = mefb.stored_scores(data)
    samples = mefb.stored_fused(data)
    assert len(samples) == 24 and len(pairs) == 100
    inputs = {}
    for (scene, method), path in samples.items():
        if scene not in inputs:
            inputs[scene] = read_image(pairs[scene].under), read_image(pairs[scene].over)
        score = mefb.mefb_mef_ssim(*inputs[scene], read_image(path))
        assert score == pytest.approx(stored[method][names.index(scene)], abs=1e-4), \
            (scene, method)


def fake_mefb(root, scenes):
    """A MEFB-layout folder: {name: (under, over)} in that order, scores 0.5 + i / 100 for
    method i on every pair, one stored fused image (pair Mertens as 'FMMEF') for the first."""
    from scipy.io import savemat
    (root / 'input').mkdir(parents=True)
    for k, (name, (under, over)) in enumerate(scenes.items()):
        folder = root / 'input' / (name.lower() if k else name)
        folder.mkdir()
        write_image(folder / f'{name}_a.png', under)
        write_image(folder / f'{name.upper()}_B.png', over)
    (root / mefb.ORDER_FILE).write_text('\n'.join(scenes) + '\n')
    table = np.zeros((len(scenes), len(mefb.METHODS), len(mefb.METRICS)))
    table[:, :, mefb.METRICS.index('MEF_SSIM')] = 0.5 + np.arange(len(mefb.METHODS)) / 100
    savemat(str(root / mefb.SCORES_FILE), {'resultsMetrics': table})
    (root / mefb.SAMPLE_DIR).mkdir()
    first = next(iter(scenes))
    under, over = scenes[first]
    write_image(root / mefb.SAMPLE_DIR / f'{first}_FMMEF.png', mertens_fuse([over, under]))


def synthetic_pair(seed):
    rng = np.random.default_rng(seed)
    radiance = synth.render_scene(seed, (96, 64))
    params = synth.sample_camera(rng)
    t_mid = synth.choose_mid_exposure(radiance, params)
    low, _, high = synth.render_bracket(radiance, synth.bracket_times(t_mid, 4), params, rng)
    return low, high


def test_reading_ignores_case_and_names_missing_files(tmp_path):
    under, over = synthetic_pair(0)
    fake_mefb(tmp_path / 'm', {'Sky': (under, over), 'Tower': (under, over)})
    pairs = mefb.read_pairs(tmp_path / 'm')
    assert [p.name for p in pairs] == ['Sky', 'Tower']
    assert pairs[1].under.name == 'Tower_a.png' and pairs[1].over.parent.name == 'tower'
    assert list(mefb.stored_fused(tmp_path / 'm')) == [('Sky', 'FMMEF')]
    scores = mefb.stored_scores(tmp_path / 'm')
    assert list(scores) == list(mefb.METHODS) and scores['DEM'].tolist() == [0.5, 0.5]
    (tmp_path / 'm' / 'input' / 'tower' / 'TOWER_B.png').unlink()
    with pytest.raises(FileNotFoundError, match='expected one Tower_B.* image, found 0'):
        mefb.read_pairs(tmp_path / 'm')
    with pytest.raises(FileNotFoundError, match='pairs_in_score_order.txt: MEFB pair order'):
        mefb.read_pairs(tmp_path)


def test_benchmark_scores_every_pair_and_counts_failures(tmp_path, benchmark, monkeypatch):
    good = synthetic_pair(1)
    rng = np.random.default_rng(5)
    # a nearly black under-exposure: no well-exposed correspondences; the ratio estimate falls
    # back (estimate_pair_exposure never fails), so a failure of y0 is forced here to test how
    # the benchmark counts one
    black = rng.integers(0, 3, good[0].shape).astype(np.uint8)
    fake_mefb(tmp_path / 'm', {'Good': good, 'Black': (black, good[1])})
    assert benchmark.fuse_ours(benchmark.benchmark_pair(
        mefb.read_pairs(tmp_path / 'm')[1]))[2] is None
    model_driven = benchmark.Pair.model_driven

    def failing_on_black(pair, *args, **kwargs):
        if 'Black' in pair.names[0]:
            raise ValueError('cannot estimate')
        return model_driven(pair, *args, **kwargs)
    monkeypatch.setattr(benchmark.Pair, 'model_driven', failing_on_black)
    result = benchmark.run(tmp_path / 'm', tmp_path / 'out', figures='all', progress=False)
    summary = result['summary']
    assert summary['pairs'] == 2 and summary['failures'] == ['Black']
    rows = {r['method']: r for r in summary['mef_ssim_table']}
    assert len(rows) == len(mefb.METHODS) + 5
    assert rows['MEFB U2Fusion']['mef_ssim'] == pytest.approx(0.7)
    under, over = good
    pair_only = mef_ssim([under, over], mertens_fuse([over, under]))
    # MEF-SSIM recomputed in another call: threaded sums differ by ~1e-10 under load
    assert result['pairs'][0]['mef_ssim']['pair-only'] == pytest.approx(pair_only, rel=1e-9)
    assert rows['ours: y0 three-frame (pairs where y0 works)']['pairs'] == 1
    black_pair_only = result['pairs'][1]['mef_ssim']['pair-only']
    assert rows['ours: y0 three-frame, failures as pair-only']['mef_ssim'] == pytest.approx(
        (result['pairs'][0]['mef_ssim']['y0'] + black_pair_only) / 2)
    # the default fusion fuses a pair whose y0 fails alone, as `expinterp fuse` does
    assert result['pairs'][1]['mef_ssim']['coarse-middle'] == pytest.approx(black_pair_only,
                                                                            abs=1e-4)
    assert rows['ours: coarse-middle (the default of `fuse`)']['pairs'] == 2
    # the stored sample equals our pair-only fusion: same score, same order reversal
    good_record = result['pairs'][0]
    assert good_record['stored_mef_ssim']['FMMEF'] == pytest.approx(pair_only, rel=1e-9)
    assert good_record['stored_order']['FMMEF'] == good_record['order']['pair-only']
    assert result['pairs'][1]['order'] is None
    assert sorted(p.name for p in (tmp_path / 'out' / 'figures').iterdir()) == \
        ['mefb_Black.png', 'mefb_Good.png']
    text = (tmp_path / 'out' / 'mefb.md').read_text()
    assert 'y0 failures: 1 (Black)' in text and '| Good |' in text


def test_benchmark_adds_the_refiner_fusion_of_a_model(tmp_path, benchmark):
    fake_mefb(tmp_path / 'm', {'Good': synthetic_pair(1)})

    class Unrefined:
        """A network that adds nothing: its middle frame is y0 itself."""
        interpolate_pair = staticmethod(benchmark.Pair.model_driven)
    result = benchmark.run(tmp_path / 'm', tmp_path / 'out', figures='none', progress=False,
                           interpolator=Unrefined())
    record, summary = result['pairs'][0], result['summary']
    assert record['mef_ssim']['refiner'] == pytest.approx(record['mef_ssim']['y0'], rel=1e-9)
    assert record['order']['refiner'] == record['order']['y0']
    assert record['mef_ssim']['refiner coarse-middle'] == pytest.approx(
        record['mef_ssim']['coarse-middle'], rel=1e-9)
    rows = {r['method']: r for r in summary['mef_ssim_table']}
    assert rows['ours: y0 + refiner (pairs where y0 works)']['pairs'] == 1
    assert set(summary['order_ours']) == {'pair-only', 'virtual2018', 'y0', 'coarse-middle',
                                          'refiner', 'refiner coarse-middle'}
