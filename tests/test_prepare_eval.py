"""`expinterp prepare` then `expinterp eval --json` end to end on a tiny synthetic bracket.

The bracket (five 64x48 frames at 1/64 .. 1/4 s through an sRGB camera, exposures.txt
``FILENAME SECONDS``) comes from test_core_prepare, which covers the layout writer itself.
"""
import contextlib
import io
import json
import math

import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.exposure.io import read_image, to_dtype
from expinterp_plugin.exposure.y0 import interpolate_exposure
from test_core_prepare import TIMES, write_bracket

SCENE = 'scene_00_02_04'


def run_json(argv):
    """Parsed stdout of ``expinterp ARGV --json``; fails the test on a non-zero exit."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv] + ['--json'])
    assert rc == 0, err.getvalue()
    return json.loads(out.getvalue())


def psnr_8bit(pred01, target):
    """PSNR (dB) of a [0, 1] prediction rounded to 8 bit against uint8 ground truth."""
    mse = np.mean((to_dtype(pred01, np.uint8).astype(np.float64) - target)**2)
    return 10 * math.log10(255.0**2 / mse)


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """(whole-image layout, 32-px crop layout, frames by file name) of one prepared bracket."""
    base = tmp_path_factory.mktemp('prepare_eval')
    frames = write_bracket(base / 'src' / 'scene')
    whole = run_json(['prepare', base / 'src', base / 'whole'])
    assert whole == {'root': str(base / 'whole'), 'triplets': 1, 'samples': 1, 'scenes': [SCENE],
                     'lmdb': False}
    crops = run_json(['prepare', base / 'src', base / 'crops', '--crop', 32])
    assert crops['samples'] == 4
    return base / 'whole', base / 'crops', frames


def test_eval_json_has_mean_scores_and_one_row_per_triplet(prepared):
    whole, _, frames = prepared
    result = run_json(['eval', whole])
    assert result['method'] == 'imf-linear' and result['crf'] == 'pair' and result['count'] == 1
    assert set(result['mean']) == {'psnr', 'ssim'}
    (row,) = result['triplets']
    assert set(row) == {'name', 'psnr', 'ssim'} and row['name'] == SCENE
    assert result['mean'] == {'psnr': row['psnr'], 'ssim': row['ssim']}
    # The layout carries the frames, times and middle time that y0 needs: the score equals y0 of
    # the source frames with t_target = t_mid, computed here without the layout.
    y0 = interpolate_exposure(frames['f00.png'], frames['f04.png'], TIMES[0], TIMES[4],
                              t_target=TIMES[2])
    assert row['psnr'] == pytest.approx(psnr_8bit(y0, frames['f02.png']), abs=1e-9)
    assert 0 < row['ssim'] <= 1


def test_imf_linear_beats_the_baselines_on_the_synthetic_bracket(prepared):
    whole, _, _ = prepared
    psnr = {method: run_json(['eval', whole, '--method', method])['mean']['psnr']
            for method in ('imf-linear', 'imf-sigmoid', 'geomean')}
    # Measured: 39.3 (linear, pair CRF), 30.7 (sigmoid), 25.3 dB (geomean).
    assert psnr['imf-linear'] > 36
    assert psnr['imf-linear'] > psnr['geomean'] + 8
    assert psnr['imf-linear'] > psnr['imf-sigmoid'] + 4


def test_dataset_crf_written_by_prepare_is_the_pair_crf(prepared):
    whole, _, _ = prepared
    # Without crops prepare estimates the CRF from the same dark/bright pair that eval sees.
    assert run_json(['eval', whole, '--crf', 'dataset'])['triplets'] == \
        run_json(['eval', whole])['triplets']


def test_crop_rows_follow_exposures_txt_and_average_into_the_mean(prepared):
    _, crops, frames = prepared
    listed = [line.split()[0] for line in (crops / 'exposures.txt').read_text().splitlines()
              if not line.startswith('#')]
    assert listed == [f'{SCENE}_s{n:03d}' for n in range(4)]
    for method in ('imf-linear', 'geomean'):
        result = run_json(['eval', crops, '--method', method, '--crf', 'dataset'])
        rows = result['triplets']
        assert [r['name'] for r in rows] == listed and result['count'] == 4
        assert result['mean']['psnr'] == pytest.approx(np.mean([r['psnr'] for r in rows]))
        assert result['mean']['ssim'] == pytest.approx(np.mean([r['ssim'] for r in rows]))
    # The first crop is the top-left 32x32 window of the source frames.
    assert np.array_equal(read_image(crops / 'mid' / f'{listed[0]}.png'),
                          frames['f02.png'][:32, :32])
