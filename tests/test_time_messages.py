"""Where the exposure times came from, as `y0`, `fuse` and `interpolate` say it (text and JSON).

One wording (``commands._common.times_text``) for the three commands: the time source
(--times, EXIF, the --exposures list, estimated) and, for an estimated ratio, its EV, confidence,
the spread the images alone leave, whether it is measured or mostly the spacing prior
(``estimate.ratio_basis``) and the advice to give --times.
"""
import contextlib
import io
import json
import math
import re

import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.commands._common import times_text
from expinterp_plugin.exposure.crf import preset_crf
from expinterp_plugin.exposure.estimate import PairExposure, ratio_basis
from expinterp_plugin.exposure.io import write_image
from test_inference import TIMES, TINY_DENOISE, pair, write_experiment

T_DARK, T_BRIGHT = TIMES[0], TIMES[2]
SRGB = preset_crf('srgb')


def run(argv):
    """(exit code, stdout) of ``expinterp ARGV``; stderr must stay free of errors."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    assert rc == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize('method, data_std_ev, basis', [
    ('joint-prior', 0.3, 'measured'),
    ('joint-prior', 0.499, 'measured'),
    # at the prior's width the images and the prior weigh alike: not a measurement
    ('joint-prior', 0.5, 'prior-dominated'),
    ('joint-prior-wide', 1.4, 'prior-dominated'),
    ('mean-brightness', math.inf, 'prior-dominated'),
    ('default-4ev', math.inf, 'prior-dominated'),
    # under a known CRF no spacing prior is used, however wide the votes spread
    ('known-crf', 2.0, 'measured'),
])
def test_ratio_basis_compares_the_images_spread_with_the_spacing_prior(method, data_std_ev,
                                                                       basis):
    found = PairExposure(SRGB, 16.0, 0.5, min(data_std_ev, 0.4), data_std_ev, method)
    assert ratio_basis(found) == basis


def estimated(basis, data_std_ev, method='joint-prior'):
    return {'t_dark': 1.0, 't_bright': 13.8, 'times_from': 'estimated ratio',
            'ratio_estimate': {'ratio': 13.8, 'ev': 3.786, 'confidence': 0.71, 'std_ev': 0.45,
                               'data_std_ev': data_std_ev, 'method': method, 'basis': basis}}


@pytest.mark.parametrize('record, text', [
    ({'t_dark': 0.01, 't_bright': 0.16, 'times_from': 'arguments'},
     't_dark 0.01 s, t_bright 0.16 s (from --times)'),
    ({'t_dark': 0.01, 't_bright': 0.16, 'times_from': 'exif'},
     "t_dark 0.01 s, t_bright 0.16 s (from the files' EXIF)"),
    ({'t_dark': 0.01, 't_bright': 0.16, 'times_from': 'exposures file'},
     't_dark 0.01 s, t_bright 0.16 s (from the --exposures list)'),
    (estimated('measured', 0.3),
     't_dark 1 s, t_bright 13.8 s (times unknown: ratio estimated from the images, 3.786 EV, '
     'confidence 0.71, the images alone +-0.3 EV: measured; give --times T_DARK T_BRIGHT if '
     'the spacing is known)'),
    (estimated('prior-dominated', 1.2),
     't_dark 1 s, t_bright 13.8 s (times unknown: ratio estimated from the images, 3.786 EV, '
     'confidence 0.71, the images alone +-1.2 EV: mostly the 4 +- 0.5 EV spacing prior, not a '
     'measurement; give --times T_DARK T_BRIGHT if the spacing is known)'),
    (estimated('prior-dominated', None, 'mean-brightness'),
     't_dark 1 s, t_bright 13.8 s (times unknown: ratio estimated from the images, 3.786 EV, '
     'confidence 0.71, no spread from the images (fallback mean-brightness): mostly the 4 +- '
     '0.5 EV spacing prior, not a measurement; give --times T_DARK T_BRIGHT if the spacing is '
     'known)'),
])
def test_times_text_names_the_source_and_qualifies_an_estimate(record, text):
    assert times_text(record) == text


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """dark.png / bright.png of an sRGB camera 4 EV apart, EXIF copies, a times list, a model."""
    folder = tmp_path_factory.mktemp('pair')
    dark, _, bright = pair((48, 64))
    write_image(folder / 'dark.png', dark)
    write_image(folder / 'bright.png', bright)
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational
    for name, img, seconds in (('exif_dark', dark, T_DARK), ('exif_bright', bright, T_BRIGHT)):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x829A] = IFDRational(1, round(1 / seconds))  # ExposureTime
        # as bytes: Pillow 13 leaves an Exif object holding only a sub-IFD out of a PNG
        Image.fromarray(img).save(folder / f'{name}.png', exif=exif.tobytes())
    (folder / 'times.txt').write_text(f'dark.png {T_DARK}\nbright.png {T_BRIGHT}\n')
    checkpoint, _ = write_experiment(folder / 'run', TINY_DENOISE)
    return folder, checkpoint


COMMANDS = {'y0': [], 'fuse': ['--imf-only'], 'interpolate': ['--model']}


def outputs(files, command, dark, bright, *extra):
    """(plain stdout, JSON record of the pair) of one command on one pair."""
    folder, checkpoint = files
    argv = [command, folder / dark, folder / bright, '-o', folder / f'{command}.png',
            *COMMANDS[command], *([checkpoint] if command == 'interpolate' else []), *extra]
    plain = run(argv)
    summary = json.loads(run(argv + ['--json']))
    return plain, summary['pairs'][0] if 'pairs' in summary else summary


@pytest.mark.parametrize('command', list(COMMANDS))
@pytest.mark.parametrize('inputs, extra, source', [
    (('dark.png', 'bright.png'), ('--times', T_DARK, T_BRIGHT), 'from --times'),
    (('exif_dark.png', 'exif_bright.png'), (), "from the files' EXIF"),
    (('dark.png', 'bright.png'), ('--exposures', 'TIMES'), 'from the --exposures list'),
])
def test_recorded_times_say_where_they_came_from(files, command, inputs, extra, source):
    extra = [files[0] / 'times.txt' if e == 'TIMES' else e for e in extra]
    plain, record = outputs(files, command, *inputs, *extra)
    assert (record['t_dark'], record['t_bright']) == pytest.approx((T_DARK, T_BRIGHT))
    assert 'ratio_estimate' not in record
    assert f"t_dark {T_DARK:g} s, t_bright {T_BRIGHT:g} s ({source})" in plain
    assert 'give --times' not in plain


def test_an_estimated_ratio_is_qualified_alike_by_the_three_commands(files):
    clauses = set()
    for command in COMMANDS:
        plain, record = outputs(files, command, 'dark.png', 'bright.png')
        found = record['ratio_estimate']
        assert record['times_from'] == 'estimated ratio'
        # The rule of ratio_basis on the JSON's own numbers.
        assert found['basis'] == ('measured' if found['data_std_ev'] < 0.5
                                  else 'prior-dominated')
        clause = re.search(r't_dark .*if the spacing is known\)', plain)[0]
        assert clause == times_text(record)
        assert f"{found['ev']:g} EV, confidence {found['confidence']:g}, the images alone " \
            f"+-{found['data_std_ev']:g} EV" in clause
        clauses.add(clause)
    assert len(clauses) == 1
