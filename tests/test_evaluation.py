"""Evaluation: methods (y0, virtual2018, model:CKPT), MEF-SSIM fusion columns, Markdown, CLI."""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from expinterp_plugin import evaluation
from expinterp_plugin.cli import main
from expinterp_plugin.evaluation import FUSION_COLUMNS, evaluate, markdown_table, write_markdown
from expinterp_plugin.exposure import mef_ssim, mertens_fuse, virtual_image_2018
from expinterp_plugin.exposure.crf import preset_crf, save_crf
from expinterp_plugin.exposure.io import read_image
from expinterp_plugin.exposure.prepare import resize_max_side
from test_dataset import TIMES, write_triplets

REPO = Path(__file__).resolve().parents[1]
NAMES = ('a', 'b', 'c')


@pytest.fixture(scope='module')
def triplets(tmp_path_factory):
    """Three 8-bit sRGB-camera scenes, 64x64, times 1/64, 1/16, 1/4 s; frames by name."""
    root = tmp_path_factory.mktemp('eval8')
    return root, write_triplets(root, names=NAMES, size=(64, 64))


def oracle(triplet, dark, bright, pair=None):
    """A 'method' that returns the real middle frame (at the frames' size)."""
    mid = resize_max_side(read_image(triplet.mid), max(dark.shape[:2]))
    return mid.astype(np.float32) / 255.0


def fake_inference(monkeypatch, predict):
    """Replace expinterp_plugin.inference with a stand-in; returns the list of recorded calls."""
    calls = []

    def load_interpolator(ckpt, opt=None, device='cpu'):
        calls.append(('load', Path(ckpt), opt, device))

        def interpolate_pair(pair, tile=None, tile_pad=32):
            calls.append(('call', pair.t_dark, pair.t_bright, pair.crf_spec, pair.t_target, tile))
            return types.SimpleNamespace(output=predict(pair.dark, pair.bright))
        return types.SimpleNamespace(interpolate_pair=interpolate_pair)

    module = types.ModuleType('expinterp_plugin.inference')
    module.load_interpolator = load_interpolator
    monkeypatch.setitem(sys.modules, 'expinterp_plugin.inference', module)
    return calls


class TestScores:
    def test_plain_result_keeps_its_keys(self, triplets):
        root, _ = triplets
        result = evaluate(root, 'imf-linear', crf='srgb')
        assert set(result['mean']) == {'psnr', 'ssim'}
        assert [r['name'] for r in result['triplets']] == list(NAMES)
        assert all(set(r) == {'name', 'psnr', 'ssim'} for r in result['triplets'])
        assert result['count'] == 3 and result['fusion'] is False
        # the sRGB camera's own CRF gives a close y0 on these smooth scenes
        assert result['mean']['psnr'] > 35

    def test_psnr_matches_a_direct_computation(self, triplets):
        root, frames = triplets
        result = evaluate(root, 'geomean')
        low, mid, high = frames['b']
        expected = evaluation.score(evaluation.geometric_mean_image(low, high), mid)
        assert result['triplets'][1]['psnr'] == pytest.approx(expected[0], abs=1e-9)
        assert result['mean']['psnr'] == pytest.approx(
            np.mean([r['psnr'] for r in result['triplets']]))

    def test_virtual2018_method_is_the_2018_virtual_image(self, triplets):
        root, frames = triplets
        result = evaluate(root, 'virtual2018', fusion=True)
        low, mid, high = frames['a']
        expected = evaluation.score(virtual_image_2018(low, high) / 255.0, mid)
        assert result['triplets'][0]['psnr'] == pytest.approx(expected[0], abs=1e-9)
        for row in result['triplets']:
            # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
            assert row['mef_ssim']['with_method'] == pytest.approx(
                row['mef_ssim']['with_virtual2018'], rel=1e-9)

    def test_thresholds_reach_y0(self, triplets):
        root, _ = triplets
        default = evaluate(root, 'imf-linear', crf='srgb')['mean']['psnr']
        wide = evaluate(root, 'imf-linear', crf='srgb', xi_l=0, xi_u=255)['mean']['psnr']
        assert wide != default

    def test_dataset_crf_is_read_from_the_layout(self, tmp_path):
        write_triplets(tmp_path, names=('s',), size=(48, 48))
        with pytest.raises(FileNotFoundError, match='crf/s.npy'):
            evaluate(tmp_path, 'imf-linear', crf='dataset')
        save_crf(preset_crf('srgb'), tmp_path / 'crf' / 's.npy')
        by_file = evaluate(tmp_path, 'imf-linear', crf='dataset')['mean']
        by_name = evaluate(tmp_path, 'imf-linear', crf='srgb')['mean']
        assert by_file == by_name


class TestFusion:
    def test_columns_are_mef_ssim_scores_of_the_four_fusions(self, triplets):
        root, frames = triplets
        result = evaluate(root, 'imf-linear', crf='srgb', fusion=True)
        for row in result['triplets']:
            assert set(row['mef_ssim']) == set(FUSION_COLUMNS)
            assert all(0 < v <= 1 for v in row['mef_ssim'].values())
        low, mid, high = frames['c']
        scores = result['triplets'][2]['mef_ssim']
        # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
        assert scores['pair'] == pytest.approx(
            mef_ssim([low, mid, high], mertens_fuse([low, high])), rel=1e-9)
        assert scores['ceiling'] == pytest.approx(
            mef_ssim([low, mid, high], mertens_fuse([low, mid, high])), rel=1e-9)
        virtual = virtual_image_2018(low, high)
        assert scores['with_virtual2018'] == pytest.approx(
            mef_ssim([low, mid, high], mertens_fuse([low, virtual, high])), rel=1e-9)
        for column in FUSION_COLUMNS:
            assert result['mean']['mef_ssim'][column] == pytest.approx(
                np.mean([r['mef_ssim'][column] for r in result['triplets']]))

    def test_a_subset_of_columns(self, triplets):
        root, _ = triplets
        full = evaluate(root, 'geomean', fusion=True)
        part = evaluate(root, 'geomean', fusion=True, fusion_columns=('with_method',))
        # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
        assert part['mean']['mef_ssim'] == pytest.approx(
            {'with_method': full['mean']['mef_ssim']['with_method']}, rel=1e-9)
        table = [line for line in markdown_table(part).splitlines() if line.startswith('| ')]
        assert table[0].count('MEF-SSIM') == 1 and len(table[-1].split(' | ')) == 4
        with pytest.raises(ValueError, match='choose one or more of pair'):
            evaluate(root, 'geomean', fusion=True, fusion_columns=('best',))

    def test_oracle_method_scores_the_ceiling(self, triplets):
        root, _ = triplets
        result = evaluate(root, 'oracle', fusion=True, predictor=oracle)
        for row in result['triplets']:
            # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
            assert row['mef_ssim']['with_method'] == pytest.approx(
                row['mef_ssim']['ceiling'], rel=1e-9)
            assert row['psnr'] == float('inf') and row['ssim'] == pytest.approx(1.0)
        assert result['mean']['psnr'] == float('inf')

    def test_max_side_downscales_every_frame_first(self, tmp_path):
        frames = write_triplets(tmp_path, names=('w',), size=(64, 128))
        seen = []

        def spy(triplet, dark, bright, pair):
            seen.append((dark.shape, bright.shape))
            return oracle(triplet, dark, bright)
        result = evaluate(tmp_path, 'oracle', fusion=True, max_side=96, predictor=spy)
        assert seen == [((48, 96, 3), (48, 96, 3))]
        low, mid, high = (resize_max_side(f, 96) for f in frames['w'])
        # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
        assert result['triplets'][0]['mef_ssim']['pair'] == pytest.approx(
            mef_ssim([low, mid, high], mertens_fuse([low, high])), rel=1e-9)
        with pytest.raises(ValueError, match='max_side'):
            evaluate(tmp_path, 'geomean', max_side=0)

    def test_sixteen_bit_frames_are_scored_on_8_bit_copies(self, tmp_path):
        frames = write_triplets(tmp_path, names=('h',), size=(64, 64), dtype=np.uint16)
        result = evaluate(tmp_path, 'virtual2018', fusion=True)
        low, mid, high = ((f.astype(np.float64) / 257).round().astype(np.uint8)
                          for f in frames['h'])
        scores = result['triplets'][0]['mef_ssim']
        # MEF-SSIM sums in threads: recomputed scores may differ by ~1e-10 under load
        assert scores['ceiling'] == pytest.approx(
            mef_ssim([low, mid, high], mertens_fuse([low, mid, high])), rel=1e-9)
        assert scores['with_method'] == pytest.approx(scores['with_virtual2018'], rel=1e-9)
        assert all(0 < v <= 1 for v in scores.values())

    def test_too_small_for_multiscale_mef_ssim(self, tmp_path):
        write_triplets(tmp_path, names=('t',), size=(32, 32))
        with pytest.raises(ValueError, match='too small'):
            evaluate(tmp_path, 'geomean', fusion=True)


class TestModelMethod:
    def test_interpolator_gets_times_crf_and_target(self, triplets, monkeypatch, tmp_path):
        root, _ = triplets
        ckpt = tmp_path / 'net_g.pth'
        ckpt.write_bytes(b'weights')
        opt = tmp_path / 'train.yml'
        opt.write_text('name: x\n')
        calls = fake_inference(monkeypatch, evaluation.geometric_mean_image)
        result = evaluate(root, f'model:{ckpt}', crf='srgb', opt=str(opt), device='cpu',
                          tile=128)
        assert calls[0] == ('load', ckpt, str(opt), 'cpu')
        assert calls[1:] == [('call', TIMES[0], TIMES[2], 'srgb', TIMES[1], 128)] * 3
        # the stand-in predicts the geometric mean, so the scores must be geomean's
        assert result['mean'] == evaluate(root, 'geomean')['mean']
        assert result['method'] == f'model:{ckpt}'

    def test_dataset_crf_passes_the_table_file(self, tmp_path, monkeypatch):
        write_triplets(tmp_path / 'd', names=('s',), size=(48, 48))
        save_crf(preset_crf('srgb'), tmp_path / 'd' / 'crf' / 's.npy')
        ckpt = tmp_path / 'net_g.pth'
        ckpt.write_bytes(b'weights')
        calls = fake_inference(monkeypatch, evaluation.geometric_mean_image)
        evaluate(tmp_path / 'd', f'model:{ckpt}', crf='dataset')
        assert calls[1][3] == tmp_path / 'd' / 'crf' / 's.npy'

    def test_errors_name_the_problem(self, triplets, tmp_path):
        root, _ = triplets
        with pytest.raises(FileNotFoundError, match='missing.pth'):
            evaluate(root, f'model:{tmp_path / "missing.pth"}')
        with pytest.raises(ValueError, match='checkpoint path'):
            evaluate(root, 'model:')
        with pytest.raises(ValueError, match='unknown method .*virtual2018'):
            evaluate(root, 'bogus')
        with pytest.raises(ValueError, match='--opt applies to model'):
            evaluate(root, 'geomean', opt='x.yml')
        ckpt = tmp_path / 'net.pth'
        ckpt.write_bytes(b'x')
        with pytest.raises(FileNotFoundError, match='nope.yml'):
            evaluate(root, f'model:{ckpt}', opt=str(tmp_path / 'nope.yml'))


class TestMarkdown:
    def test_one_row_per_triplet_plus_mean(self, triplets, tmp_path):
        root, _ = triplets
        result = evaluate(root, 'imf-linear', crf='srgb', fusion=True)
        path = tmp_path / 'out' / 'table.md'
        write_markdown(path, result)
        text = path.read_text()
        assert text == markdown_table(result)
        rows = [line for line in text.splitlines() if line.startswith('| ')]
        assert len(rows) == 1 + len(NAMES) + 1  # header, triplets, mean
        assert rows[0].count('MEF-SSIM') == 5
        mean = rows[-1].split(' | ')
        assert mean[0] == '| **mean**' and mean[1] == f'{result["mean"]["psnr"]:.2f}'
        assert mean[-1] == f'{result["mean"]["mef_ssim"]["ceiling"]:.4f} |'
        assert [p.name for p in path.parent.iterdir()] == ['table.md']

    def test_without_fusion_three_columns(self, triplets):
        root, _ = triplets
        text = markdown_table(evaluate(root, 'geomean'))
        assert '| scene | PSNR (dB) | SSIM |' in text and 'MEF-SSIM' not in text


class TestCommand:
    def test_json_and_markdown(self, triplets, tmp_path, capsys):
        root, _ = triplets
        md = tmp_path / 'eval.md'
        assert main(['eval', str(root), '--method', 'virtual2018', '--fusion', '--json',
                     '--markdown', str(md)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert set(result['mean']) == {'psnr', 'ssim', 'mef_ssim'}
        assert len(result['triplets']) == 3 and result['method'] == 'virtual2018'
        assert md.read_text() == markdown_table(result)

    def test_text_output_has_the_fusion_columns(self, triplets, capsys):
        root, _ = triplets
        assert main(['eval', str(root), '--crf', 'srgb', '--fusion']) == 0
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 5 and out[3].startswith('mean') and '+real mid' in out[3]

    def test_errors_exit_2_with_a_message(self, triplets, tmp_path, capsys):
        root, _ = triplets
        assert main(['eval', str(root), '--method', 'nope']) == 2
        assert 'unknown method' in capsys.readouterr().err
        assert main(['eval', str(root), '--method', f'model:{tmp_path / "gone.pth"}']) == 2
        assert 'gone.pth' in capsys.readouterr().err
        assert main(['eval', str(tmp_path / 'empty')]) == 2
        assert 'exposures.txt' in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_smoke(tmp_path):
    """benchmarks/reproduce.py --smoke: two tiny trainings, every table row present."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / 'benchmarks' / 'reproduce.py'), '--smoke',
                           '--out', str(tmp_path / 'repro')], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    rows = {r['row']: r for r in report['table2']}
    assert set(rows) == {'y0 (linear IMF)', 'hybrid, L1', 'hybrid, L2', 'hybrid, psi',
                         'hybrid, psi + Lc', 'hybrid, psi + Lf', 'hybrid, full loss',
                         'conditioned hybrid, psi + Lc', 'direct, psi + Lc'}
    assert rows['hybrid, psi + Lf']['status'] == 'skipped: no MINC weights'
    trained = [r for r in rows.values() if r['status'] == 'trained']
    assert len(trained) == 2
    for row in trained:
        assert np.isfinite(row['synth_val']['psnr']['mean'])
    assert {r['row'] for r in report['table1']} >= {'y0, double-sigmoid IMF',
                                                    'y0, linear-interpolation IMF'}
    curve = (tmp_path / 'repro' / 'curves_synth_val.png')
    assert curve.is_file() and read_image(curve).shape[2] == 3
    assert (tmp_path / 'repro' / 'report.md').read_text().count('| ') > 10


def load_reproduce():
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        import reproduce
    finally:
        sys.path.remove(str(REPO / 'benchmarks'))
    return reproduce


BASICSR_LOG = """\
2026-01-01 10:00:00,000 INFO: Start training from epoch: 0, iter: 0
2026-01-01 10:00:01,000 INFO: [hybri..][epoch:  0, iter:      50, lr:(1.000e-03,)] l_pix: 2e-02
2026-01-01 10:00:02,000 INFO: Validation synth_val
\t # psnr: 40.1000\tBest: 40.1000 @ 50 iter
\t # psnr_y0: 41.5000\tBest: 41.5000 @ 50 iter

2026-01-01 10:00:03,000 INFO: Validation real_test
\t # psnr: 34.2000\tBest: 34.2000 @ 50 iter

2026-01-01 10:00:04,000 INFO: [hybri..][epoch:  1, iter:   1,000, lr:(1.000e-03,)] l_pix: 1e-02
2026-01-01 10:00:05,000 INFO: Validation synth_val
\t # psnr: 40.9000\tBest: 40.9000 @ 1000 iter
\t # psnr_y0: 41.5000\tBest: 41.5000 @ 1000 iter

2026-01-01 10:00:06,000 INFO: End of training. Time consumed: 0:00:06
2026-01-01 10:00:06,000 INFO: Validation synth_val
\t # psnr: 40.9000\tBest: 40.9000 @ 1002 iter
"""


def test_validation_log_is_dated_by_the_preceding_iteration():
    curves = load_reproduce().parse_validation_log(BASICSR_LOG)
    assert curves == {'synth_val': {'psnr': [(50, 40.1), (1000, 40.9)],
                                    'psnr_y0': [(50, 41.5), (1000, 41.5)]},
                      'real_test': {'psnr': [(50, 34.2)]}}


def test_curves_are_drawn_in_their_colours(tmp_path):
    reproduce = load_reproduce()
    runs = {'hybrid_psi_color': [{'curves': {'v': {'psnr': [(10, 30.0), (20, 31.0)],
                                                   'psnr_y0': [(10, 29.0), (20, 29.0)]}}},
                                 {'curves': {'v': {'psnr': [(10, 30.5), (20, 32.0)]}}}],
            'direct': [{'curves': {'v': {'psnr': [(10, 20.0), (20, 25.0)]}}}]}
    series = reproduce.curve_series(runs, 'v')
    assert series['hybrid'] == {'iters': [10, 20], 'mean': [30.25, 31.5], 'min': [30.0, 31.0],
                                'max': [30.5, 32.0], 'seeds': 2, 'y0': 29.0}
    assert set(series) == {'hybrid', 'direct'}
    path = tmp_path / 'curves.png'
    reproduce.draw_curves(series, 'test', path)
    image = read_image(path)
    assert image.shape == (600, 960, 3)
    for colour in (reproduce.CURVE_COLOURS['hybrid'], reproduce.CURVE_COLOURS['direct']):
        assert (image == colour).all(axis=2).sum() > 100


def test_eval_passes_align_reference_and_deghost_to_every_pair(triplets, monkeypatch, capsys):
    """`expinterp eval --align off --reference bright --deghost off` reaches each triplet's
    ``Pair``; a static (tripod) data set scores the same with the defaults."""
    from expinterp_plugin import evaluation
    from expinterp_plugin.cli import main
    root, _ = triplets
    made = []
    real_pair = evaluation.Pair

    def recording_pair(*args, **kwargs):
        made.append({k: kwargs.get(k) for k in ('align', 'reference', 'deghost')})
        return real_pair(*args, **kwargs)
    monkeypatch.setattr(evaluation, 'Pair', recording_pair)
    assert main(['eval', str(root), '--crf', 'srgb', '--align', 'off', '--reference', 'bright',
                 '--deghost', 'off', '--json']) == 0
    fixed = json.loads(capsys.readouterr().out)
    assert made == [{'align': 'off', 'reference': 'bright', 'deghost': False}] * len(NAMES)
    assert main(['eval', str(root), '--crf', 'srgb', '--json']) == 0
    default = json.loads(capsys.readouterr().out)
    assert made[-1] == {'align': 'auto', 'reference': 'dark', 'deghost': True}
    assert default['mean']['psnr'] == pytest.approx(fixed['mean']['psnr'], abs=1e-9)
