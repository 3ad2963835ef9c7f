"""The numeric-core subcommands: `expinterp y0`, `expinterp calibrate`, `expinterp prepare`."""
import contextlib
import io
import json
import math
import re

import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.exposure.crf import load_crf, preset_crf
from expinterp_plugin.exposure.io import read_image, to_dtype, write_image
from expinterp_plugin.exposure.y0 import interpolate_exposure
from test_core_prepare import TIMES, render_frames, write_bracket

T_DARK, T_BRIGHT = TIMES[0], TIMES[-1]


def run_cli(argv):
    """(exit code, stdout, stderr) of ``expinterp ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse's own errors
            rc = exit_.code
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    """dark.png / bright.png (4 EV apart, 64x48 sRGB camera) and the arrays written."""
    folder = tmp_path_factory.mktemp('pair')
    frames = render_frames()
    dark, bright = frames[0], frames[-1]
    write_image(folder / 'dark.png', dark)
    write_image(folder / 'bright.png', bright)
    return folder, dark, bright


def y0_json(pair, tmp_path, *extra):
    folder, _, _ = pair
    rc, out, err = run_cli(['y0', folder / 'dark.png', folder / 'bright.png', '-o',
                            tmp_path / 'y0.png', '--json', *extra])
    assert rc == 0, err
    return json.loads(out)


def test_y0_with_times_writes_the_interpolation_at_the_input_size(pair, tmp_path):
    _, dark, bright = pair
    summary = y0_json(pair, tmp_path, '--times', T_DARK, T_BRIGHT)
    # a static pair: not moved, no moving subjects
    alignment, motion = summary.pop('alignment'), summary.pop('motion')
    assert alignment['model'] == 'none' and motion['fraction'] == 0.0
    assert summary == {'output': str(tmp_path / 'y0.png'), 't_dark': T_DARK, 't_bright': T_BRIGHT,
                       't_target': pytest.approx(math.sqrt(T_DARK * T_BRIGHT)),
                       'times_from': 'arguments', 'crf': 'emor', 'imf': 'linear',
                       'bit_depth': 8, 'size': [dark.shape[1], dark.shape[0]]}
    written = read_image(tmp_path / 'y0.png')
    assert written.dtype == np.uint8 and written.shape == dark.shape
    expected = to_dtype(interpolate_exposure(dark, bright, T_DARK, T_BRIGHT), np.uint8)
    assert np.array_equal(written, expected)


def test_y0_options_reach_the_interpolation(pair, tmp_path):
    _, dark, bright = pair
    summary = y0_json(pair, tmp_path, '--times', T_DARK, T_BRIGHT, '--target', 1 / 32, '--crf',
                      'srgb', '--imf', 'sigmoid', '--xi-l', 0, '--xi-u', 255, '--save-crf',
                      tmp_path / 'used.txt')
    assert (summary['t_target'], summary['crf'], summary['imf']) == (1 / 32, 'srgb', 'sigmoid')
    expected = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, crf='srgb', t_target=1 / 32,
                                    imf='sigmoid', xi_l=0, xi_u=255)
    assert np.array_equal(read_image(tmp_path / 'y0.png'), to_dtype(expected, np.uint8))
    np.testing.assert_allclose(load_crf(tmp_path / 'used.txt').g, preset_crf('srgb').g,
                               atol=1e-8)


def test_y0_reads_times_from_an_exposures_file(pair, tmp_path):
    folder, _, _ = pair
    listing = tmp_path / 'times.txt'
    listing.write_text(f'bright.png {T_BRIGHT}\ndark.png {T_DARK}\n')
    summary = y0_json(pair, tmp_path, '--exposures', listing)
    assert (summary['t_dark'], summary['t_bright'], summary['times_from']) == \
        (T_DARK, T_BRIGHT, 'exposures file')
    listing.write_text(f'dark.png {T_DARK}\n')
    rc, out, err = run_cli(['y0', folder / 'dark.png', folder / 'bright.png', '-o',
                            tmp_path / 'again.png', '--exposures', listing])
    assert rc == 2 and out == ''
    assert 'times.txt: no time for bright.png' in err
    assert not (tmp_path / 'again.png').exists()


def test_y0_estimates_the_exposure_ratio_without_times(pair, tmp_path):
    summary = y0_json(pair, tmp_path)
    assert summary['times_from'] == 'estimated ratio' and summary['t_dark'] == 1.0
    estimate = summary['ratio_estimate']
    assert estimate['method'] == 'joint-prior' and 0 <= estimate['confidence'] <= 1
    assert estimate['ratio'] == pytest.approx(summary['t_bright'], rel=1e-3)
    # The spacing prior narrows what the images alone leave open.
    assert 0 < estimate['std_ev'] < estimate['data_std_ev']
    # 4 EV apart, fitted jointly with the response under the DoRF prior (the sRGB camera is
    # not a DoRF curve): measured 3.79 EV (3.25 from the images alone). The exponential
    # ambiguity leaves the IMF to the target nearly unchanged, so y0 stays close to the one
    # with the true times.
    assert abs(estimate['ev'] - 4.0) < 1.0
    with_times = read_image(tmp_path / 'y0.png')
    y0_json(pair, tmp_path, '--times', T_DARK, T_BRIGHT)
    error = with_times.astype(float) - read_image(tmp_path / 'y0.png')
    assert np.abs(error).mean() < 2.0


def test_y0_estimates_the_ratio_under_a_given_crf(pair, tmp_path):
    summary = y0_json(pair, tmp_path, '--crf', 'srgb')
    assert (summary['times_from'], summary['crf']) == ('estimated ratio', 'srgb')
    assert summary['ratio_estimate']['method'] == 'known-crf'
    # The camera is sRGB: measured 16.01.
    assert summary['t_bright'] == pytest.approx(T_BRIGHT / T_DARK, rel=0.03)


def test_y0_estimates_the_ratio_for_the_debevec_pair_crf_too(pair, tmp_path):
    summary = y0_json(pair, tmp_path, '--crf', 'pair:debevec')
    assert (summary['times_from'], summary['crf']) == ('estimated ratio', 'debevec')
    assert summary['t_bright'] > 1.0


def test_y0_plain_output_mentions_an_estimated_ratio(pair, tmp_path):
    folder, _, _ = pair
    rc, out, _ = run_cli(['y0', folder / 'dark.png', folder / 'bright.png', '-o',
                          tmp_path / 'y0.png'])
    assert rc == 0 and out.startswith(f'wrote {tmp_path / "y0.png"}')
    assert 'ratio estimated from the images' in out
    assert re.search(r'the images alone \+-[0-9.]+ EV: (measured|mostly the 4 \+- 0.5 EV '
                     r'spacing prior, not a measurement); give --times', out)
    rc, out, _ = run_cli(['y0', folder / 'dark.png', folder / 'bright.png', '-o',
                          tmp_path / 'timed.png', '--times', T_DARK, T_BRIGHT])
    assert rc == 0 and 'ratio estimated' not in out and 'crf emor' in out


def test_y0_keeps_16_bit_depth(tmp_path):
    frames = render_frames(size=(32, 24))
    for name, img in (('d.png', frames[0]), ('b.png', frames[-1])):
        write_image(tmp_path / name, img.astype(np.uint16) * np.uint16(257))
    rc, out, err = run_cli(['y0', tmp_path / 'd.png', tmp_path / 'b.png', '-o', tmp_path / 'y.png',
                            '--times', T_DARK, T_BRIGHT, '--crf', 'srgb', '--json'])
    assert rc == 0, err
    assert json.loads(out)['bit_depth'] == 16
    written = read_image(tmp_path / 'y.png')
    assert written.dtype == np.uint16 and written.shape == (24, 32, 3)


def test_y0_with_swapped_inputs_names_both_files(pair, tmp_path):
    folder, _, _ = pair
    rc, out, err = run_cli(['y0', folder / 'bright.png', folder / 'dark.png', '-o',
                            tmp_path / 'y0.png', '--times', T_DARK, T_BRIGHT])
    assert rc == 2 and out == ''
    assert f'{folder / "bright.png"} (mean' in err and 'inputs swapped?' in err
    assert str(folder / 'dark.png') in err
    assert not (tmp_path / 'y0.png').exists()


@pytest.mark.parametrize('extra, problem', [
    (['--times', T_BRIGHT, T_DARK], 'inputs or times swapped?'),
    (['--times', 0, T_BRIGHT], 'must be > 0'),
    (['--times', T_DARK, T_BRIGHT, '--target', 1.0], 'target time 1.0 outside'),
    (['--times', T_DARK, T_BRIGHT, '--xi-u', 100], 'xi_U must lie in'),
    (['--times', T_DARK, T_BRIGHT, '--crf', 'missing.npy'], 'missing.npy: CRF file not found'),
])
def test_y0_bad_settings_exit_2_with_a_message(pair, tmp_path, extra, problem):
    folder, _, _ = pair
    rc, out, err = run_cli(['y0', folder / 'dark.png', folder / 'bright.png', '-o',
                            tmp_path / 'y0.png', *extra])
    assert rc == 2 and problem in err and out == ''
    assert list(tmp_path.iterdir()) == []


def test_y0_unreadable_or_mismatched_inputs_are_named(pair, tmp_path):
    folder, dark, _ = pair
    (tmp_path / 'junk.png').write_bytes(b'junk')
    rc, _, err = run_cli(['y0', folder / 'dark.png', tmp_path / 'junk.png', '-o',
                          tmp_path / 'y0.png', '--times', T_DARK, T_BRIGHT])
    assert rc == 2 and f'{tmp_path / "junk.png"}: not a readable image' in err
    write_image(tmp_path / 'small.png', dark[:20])
    rc, _, err = run_cli(['y0', tmp_path / 'small.png', folder / 'bright.png', '-o',
                          tmp_path / 'y0.png', '--times', T_DARK, T_BRIGHT])
    assert rc == 2 and 'small.png is 64x20' in err and 'bright.png is 64x48' in err
    assert not (tmp_path / 'y0.png').exists()


def test_calibrate_writes_a_loadable_crf(tmp_path):
    write_bracket(tmp_path / 'scene', render_frames(size=(48, 36)))
    rc, out, err = run_cli(['calibrate', tmp_path / 'scene', '-o', tmp_path / 'cam.npy', '--json'])
    assert rc == 0, err
    summary = json.loads(out)
    scores = summary.pop('leave_one_out_psnr')
    assert set(scores) == {'emor', 'polynomial', 'debevec'}
    assert summary == {'output': str(tmp_path / 'cam.npy'), 'frames': 5,
                       'method': max(scores, key=scores.get), 'levels': 256,
                       'times': list(TIMES)}
    crf = load_crf(tmp_path / 'cam.npy')
    assert crf.levels == 256 and np.all(np.diff(crf.g, axis=0) > 0)
    rc, out, err = run_cli(['calibrate', tmp_path / 'scene', '-o', tmp_path / 'deb.txt',
                            '--method', 'debevec', '--max-side', 24, '--json'])
    assert rc == 0, err
    assert json.loads(out)['leave_one_out_psnr'] == {}
    assert np.all(np.diff(load_crf(tmp_path / 'deb.txt').g, axis=0) > 0)


class TerminalStream(io.StringIO):
    """A captured stream that says it is a terminal, as an interactive stderr does."""

    def isatty(self):
        return True


@pytest.mark.parametrize('terminal, quiet, bars', [(True, False, True), (True, True, False),
                                                   (False, False, False)])
def test_calibrate_draws_progress_only_on_a_terminal_and_never_on_stdout(tmp_path, terminal,
                                                                         quiet, bars):
    """Progress on stderr unless --quiet or stderr is not a terminal; --json stays parseable."""
    write_bracket(tmp_path / 'scene', render_frames(size=(48, 36)))
    out, err = io.StringIO(), TerminalStream() if terminal else io.StringIO()
    argv = ['calibrate', str(tmp_path / 'scene'), '-o', str(tmp_path / 'cam.npy'), '--json']
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv + ['--quiet'] * quiet)
    assert rc == 0, err.getvalue()
    assert json.loads(out.getvalue())['frames'] == 5
    # 5 frames read, then 3 estimators x 3 left-out frames and the final fit.
    drawn = err.getvalue()
    assert ('reading:   0%' in drawn and '0/5' in drawn and 'fitting:   0%' in drawn
            and '0/10' in drawn) == bars, drawn
    if not bars:
        assert drawn == ''


@pytest.mark.parametrize('command', ['calibrate', 'prepare', 'simulate', 'eval', 'fuse',
                                     'interpolate', 'synth'])
def test_every_command_with_progress_bars_takes_quiet(command):
    rc, out, _ = run_cli([command, '--help'])
    assert rc == 0 and '-q, --quiet' in out and 'no progress bars' in out


def test_calibrate_without_times_exits_2(tmp_path):
    write_bracket(tmp_path / 'scene', render_frames(size=(16, 12)), listing=False)
    rc, _, err = run_cli(['calibrate', tmp_path / 'scene', '-o', tmp_path / 'cam.npy'])
    assert rc == 2 and 'f00.png: no exposure time' in err
    assert not (tmp_path / 'cam.npy').exists()


@pytest.mark.slow  # imports BasicSR and so torch: about 8 s of CPU before any work
@pytest.mark.parametrize('codec, magic', [(None, b'\x89PNG'), ('png', b'\x89PNG'),
                                          ('ppm', b'P6')])
def test_prepare_lmdb_holds_the_keys_of_exposures_txt(tmp_path, codec, magic):
    import cv2
    import lmdb
    write_bracket(tmp_path / 'src' / 'scene', render_frames(size=(48, 36)))
    codec_args = [] if codec is None else ['--lmdb-codec', codec]
    rc, out, err = run_cli(['prepare', tmp_path / 'src', tmp_path / 'out', '--lmdb', '--crop', 24,
                            '--json', *codec_args])
    assert rc == 0, err
    summary = json.loads(out)
    assert summary['lmdb'] is True and summary['samples'] == 4
    listed = [line.split()[0] for line in (tmp_path / 'out' / 'exposures.txt').read_text()
              .splitlines() if not line.startswith('#')]
    assert listed == [f'scene_00_02_04_s{n:03d}' for n in range(4)]
    for frame in ('low', 'mid', 'high'):
        env = lmdb.open(str(tmp_path / 'out' / f'{frame}.lmdb'), readonly=True, lock=False)
        with env.begin() as txn:
            keys = [k.decode() for k, _ in txn.cursor()]
            assert sorted(keys) == listed
            value = txn.get(listed[0].encode())
            assert value.startswith(magic)
            stored = cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)
        env.close()
        on_disk = read_image(tmp_path / 'out' / frame / f'{listed[0]}.png')
        assert np.array_equal(stored[..., ::-1], on_disk)
        meta = (tmp_path / 'out' / f'{frame}.lmdb' / 'meta_info.txt').read_text().split('\n')
        assert [line.split('.png')[0] for line in meta if line] == listed


def test_prepare_rejects_bad_crops_and_existing_output(tmp_path):
    rc, _, err = run_cli(['prepare', tmp_path, tmp_path / 'out', '--crop', 0])
    assert rc == 2 and 'argument --crop: must be >= 1, got 0' in err
    (tmp_path / 'busy').mkdir()
    (tmp_path / 'busy' / 'x').write_text('x')
    write_bracket(tmp_path / 'src' / 'scene', render_frames(size=(16, 12)))
    rc, _, err = run_cli(['prepare', tmp_path / 'src', tmp_path / 'busy'])
    assert rc == 2 and 'busy: exists and is not empty (use --overwrite)' in err
