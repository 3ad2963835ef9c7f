"""Order reversal as additive columns of `expinterp eval --fusion --order`."""
import json

import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.evaluation import FUSION_COLUMNS, evaluate, fusion_images, markdown_table
from expinterp_plugin.exposure.brackets import read_triplet_layout
from expinterp_plugin.exposure.crf import preset_crf
from expinterp_plugin.exposure.order import log_radiance, order_consistency
from test_dataset import TIMES, write_triplets


@pytest.fixture(scope='module')
def triplets(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval_order')
    return root, write_triplets(root, names=('a', 'b'), size=(96, 64))


def test_order_columns_are_the_reversal_of_each_fusion(triplets):
    root, frames = triplets
    result = evaluate(root, 'geomean', crf='srgb', fusion=True, order=True)
    low, mid, high = frames['a']
    row = result['triplets'][0]
    assert set(row['order_reversal']) == set(FUSION_COLUMNS)
    log_e = log_radiance(low, high, preset_crf('srgb'), TIMES[0], TIMES[2])
    geomean = np.sqrt(low.astype(np.float64) * high).astype(np.float32) / 255
    images = fusion_images(low, mid, high, geomean)
    for column, fused in images.items():
        assert row['order_reversal'][column] == order_consistency(log_e, fused).fraction
    assert result['mean']['order_reversal']['pair'] == pytest.approx(
        np.mean([r['order_reversal']['pair'] for r in result['triplets']]))
    header = markdown_table(result).splitlines()[2]
    assert header.count('reversed %') == 5 and header.count('MEF-SSIM') == 5
    # without order the result is what it was
    plain = evaluate(root, 'geomean', crf='srgb', fusion=True)
    assert 'order_reversal' not in plain['mean'] and 'order_reversal' not in plain['triplets'][0]
    # MEF-SSIM recomputed in another run: threaded sums differ by ~1e-10 under load
    assert plain['triplets'][0]['mef_ssim'] == pytest.approx(row['mef_ssim'], rel=1e-9)


def test_cli_order_flag(triplets, capsys):
    root, _ = triplets
    assert main(['eval', str(root), '--crf', 'srgb', '--fusion', '--order', '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result['mean']) == {'psnr', 'ssim', 'mef_ssim', 'order_reversal'}
    assert main(['eval', str(root), '--crf', 'srgb', '--fusion', '--order']) == 0
    assert 'reversed % pair' in capsys.readouterr().out
    assert len(read_triplet_layout(root)) == 2


def test_each_triplet_estimates_its_crf_once_for_prediction_and_order(triplets, monkeypatch):
    from expinterp_plugin import pair as pair_module
    root, _ = triplets
    calls = []
    original = pair_module.resolve_pair_crf

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)
    monkeypatch.setattr(pair_module, 'resolve_pair_crf', counted)
    result = evaluate(root, 'imf-linear', fusion=True, order=True)
    assert len(result['triplets']) == 2 and calls == ['pair', 'pair']
