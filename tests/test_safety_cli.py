"""Issue 9: nothing the user owns is lost, every bad input gets one clear line.

Each case runs the command of the issue and checks: exit status 2, the message names the file,
no traceback, the inputs byte-identical afterwards and nothing partial left behind.
"""
import contextlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.exposure.io import (MAX_MEGAPIXELS_ENV, ImageError, read_image, read_table,
                                          write_image)
from test_core_prepare import render_frames, write_bracket

T_DARK, T_BRIGHT = 1 / 64, 1 / 4


def run(argv):
    """(exit status, stdout, stderr) of ``expinterp ARGV`` in this process; argparse's own
    exits are returned too. A traceback cannot hide: an uncaught exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exit_:
            rc = exit_.code
    assert 'Traceback' not in err.getvalue()
    return rc, out.getvalue(), err.getvalue()


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder`` (hidden ones too)."""
    folder = Path(folder)
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def refused(argv, *named):
    """Run ``argv``; assert exit 2, one error line naming each of ``named``, empty stdout."""
    rc, out, err = run(argv)
    assert rc == 2, err
    assert out == ''
    # (argparse prints its usage first and a progress bar may stand before the line)
    errors = [line for line in err.replace('\r', '\n').splitlines() if 'error:' in line]
    assert len(errors) == 1 and errors[0].startswith('expinterp'), err
    for name in named:
        assert str(name) in err, err
    return err


@pytest.fixture
def pair(tmp_path):
    """tmp/pair/{dark,bright}.png, 64x48 uint8, 4 EV apart; returns the folder."""
    folder = tmp_path / 'pair'
    frames = render_frames()
    write_image(folder / 'dark.png', frames[0])
    write_image(folder / 'bright.png', frames[-1])
    return folder


def times():
    return ['--times', T_DARK, T_BRIGHT]


# --- 1. prepare --overwrite removes only what prepare created -----------------------------------

@pytest.fixture
def project(tmp_path):
    """proj/brackets/scene/ with a five-frame bracket and exposures.txt."""
    write_bracket(tmp_path / 'proj' / 'brackets' / 'scene')
    return tmp_path / 'proj'


@pytest.mark.parametrize('dst_of, problem', [
    (lambda proj: proj, 'contains the source folder'),
    (lambda proj: proj / 'brackets', 'is the source folder'),
    (lambda proj: proj / 'brackets' / 'out', 'lies inside the source folder'),
])
def test_prepare_never_writes_over_around_or_inside_src(project, dst_of, problem):
    before = snapshot(project)
    dst = dst_of(project)
    err = refused(['prepare', project / 'brackets', dst, '--max-side', 32, '--overwrite'], dst)
    assert problem in err
    assert snapshot(project) == before


def test_prepare_overwrite_refuses_a_folder_it_did_not_write(project, tmp_path):
    dst = tmp_path / 'mine'
    (dst / 'sub').mkdir(parents=True)
    (dst / 'sub' / 'photo.jpg').write_bytes(b'precious')
    err = refused(['prepare', project / 'brackets', dst, '--overwrite'], dst)
    assert 'not written by expinterp prepare' in err
    assert snapshot(dst) == {Path('sub/photo.jpg'): b'precious'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['mine', 'proj']


def test_prepare_overwrite_replaces_its_own_output(project, tmp_path):
    dst = tmp_path / 'data'
    assert run(['prepare', project / 'brackets', dst, '--max-side', 32, '--crf', 'none'])[0] == 0
    first = snapshot(dst)
    assert run(['prepare', project / 'brackets', dst, '--max-side', 16, '--crf', 'none',
                '--overwrite'])[0] == 0
    second = snapshot(dst)
    assert second.keys() == first.keys() and second != first
    assert read_image(dst / 'low' / 'scene_00_02_04.png').shape == (12, 16, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'proj']


# --- 2. an output that is an input is refused ---------------------------------------------------

def link_kinds():
    return ['same', 'symlink', 'hardlink']


def alias(path, kind):
    """``path`` itself, or a symlink / hard link to it beside it."""
    if kind == 'same':
        return path
    other = path.with_name(f'{kind}-{path.name}')
    (os.symlink if kind == 'symlink' else os.link)(path, other)
    return other


@pytest.mark.parametrize('kind', link_kinds())
def test_y0_refuses_to_write_over_an_input(pair, kind):
    before = snapshot(pair)
    output = alias(pair / 'dark.png', kind)
    before = snapshot(pair)
    refused(['y0', pair / 'dark.png', pair / 'bright.png', '-o', output, *times()], output)
    assert snapshot(pair) == before


@pytest.mark.parametrize('command', [['fuse', '--imf-only'], ['fuse', '--pair-only']])
@pytest.mark.parametrize('kind', ['same', 'symlink'])
def test_fuse_refuses_an_input_folder_as_output_folder(tmp_path, command, kind):
    darks, brights = tmp_path / 'D', tmp_path / 'B'
    frames = render_frames()
    for i in range(2):
        write_image(darks / f'p{i}.png', frames[0])
        write_image(brights / f'p{i}.png', frames[-1])
    output = darks if kind == 'same' else alias(darks, 'symlink')
    before = snapshot(tmp_path)
    err = refused([command[0], darks, brights, '-o', output, command[1], *times()], output)
    assert 'input folder' in err
    assert snapshot(tmp_path) == before


def test_every_writing_command_refuses_its_input_as_output(tmp_path, project):
    scene = project / 'brackets' / 'scene'
    before = snapshot(project)
    refused(['calibrate', scene, '-o', scene / 'exposures.txt'], 'exposures.txt')
    (tmp_path / 'model.caffemodel').write_bytes(b'not a model')
    refused(['convert-minc', tmp_path / 'model.caffemodel', '-o', tmp_path / 'model.caffemodel'],
            'model.caffemodel')
    assert (tmp_path / 'model.caffemodel').read_bytes() == b'not a model'
    assert snapshot(project) == before


def test_two_outputs_of_one_command_may_not_coincide(pair, tmp_path):
    out = tmp_path / 'out.png'
    refused(['fuse', pair / 'dark.png', pair / 'bright.png', '-o', out, '--pair-only',
             '--save-figure', out], out)
    refused(['fuse', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'x_curves.png',
             '--pair-only', '--save-figure', tmp_path / 'x.png'], 'x_curves.png')  # its curves
    assert not out.exists()
    before = snapshot(pair)
    refused(['fuse', pair / 'dark.png', pair / 'bright.png', '-o', out, '--pair-only',
             '--save-figure', pair / 'bright.png'], 'bright.png')
    assert snapshot(pair) == before and list(tmp_path.iterdir()) == [pair]


def test_help_says_what_happens_to_an_existing_output(capsys):
    for command in ('y0', 'fuse', 'interpolate', 'calibrate', 'convert-minc', 'prepare'):
        with pytest.raises(SystemExit):
            main([command, '--help'])
        text = ' '.join(capsys.readouterr().out.split())
        assert 'replace' in text, command


# --- 5-7. silently wrong results ----------------------------------------------------------------

@pytest.mark.parametrize('suffix', ['.jpg', '.bmp', '.webp'])
def test_16_bit_into_an_8_bit_format_is_refused_before_any_work(tmp_path, suffix):
    frames = render_frames()
    for name, img in (('dark', frames[0]), ('bright', frames[-1])):
        write_image(tmp_path / f'{name}.png', img.astype(np.uint16) * 257)
    out = tmp_path / f'out{suffix}'
    err = refused(['y0', tmp_path / 'dark.png', tmp_path / 'bright.png', '-o', out, *times()], out)
    assert '16-bit' in err
    refused(['fuse', tmp_path / 'dark.png', tmp_path / 'bright.png', '-o', out, '--imf-only',
             *times()], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bright.png', 'dark.png']


@pytest.mark.parametrize('lines, problem', [
    (['a.png 0.1', 'b.png 0.2', 'a.png 0.4'], r':3: .a\.png. is listed twice \(first on line 1\)'),
    (['a.png 0.1', 'b.png nan'], r':2: exposure times must be finite and positive'),
    (['a.png inf'], r':1: exposure times must be finite and positive'),
])
def test_exposure_lists_with_duplicates_or_non_finite_times_name_file_and_line(tmp_path, lines,
                                                                               problem):
    listing = tmp_path / 'exposures.txt'
    listing.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ImageError, match=str(listing).replace('.', r'\.') + problem):
        read_table(listing, 1)


def test_prepare_refuses_times_that_contradict_the_images(tmp_path):
    scene = tmp_path / 'src' / 'scene'
    write_bracket(scene)
    listing = scene / 'exposures.txt'
    lines = listing.read_text().split('\n')
    names, secs = zip(*(line.split() for line in lines if line))
    listing.write_text(''.join(f'{n} {t}\n' for n, t in zip(names, reversed(secs))))
    err = refused(['prepare', tmp_path / 'src', tmp_path / 'out'], scene / 'f04.png')
    assert 'is brighter than' in err and 'times swapped?' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['src']


@pytest.mark.parametrize('value', ['nan', 'inf', '-1', '0'])
def test_prepare_ev_must_be_a_finite_positive_number(tmp_path, value):
    err = refused(['prepare', tmp_path, tmp_path / 'out', '--ev', value], '--ev')
    assert 'must be' in err


def test_unwritable_outputs_are_found_before_the_work(pair, tmp_path):
    (tmp_path / 'afile').write_text('x')
    base = ['y0', pair / 'dark.png', pair / 'bright.png', *times()]
    refused([*base, '-o', tmp_path], tmp_path)                            # a folder
    refused([*base, '-o', tmp_path / 'afile' / 'y0.png'], 'afile')        # under a file
    refused([*base, '-o', tmp_path / 'y0.xyz'], 'y0.xyz')                 # unknown type
    refused([*base, '-o', tmp_path / 'y0.png', '--save-crf', tmp_path / 'crf.xyz'], 'crf.xyz')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['afile', 'pair']


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_a_read_only_folder_is_refused_before_the_work(pair, tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o555)
    try:
        refused(['y0', pair / 'dark.png', pair / 'bright.png', *times(), '-o', locked / 'y0.png'],
                locked)
        refused(['synth', locked / 'data', '--scenes', 1, '--val-scenes', 0, '--size', '16x16'],
                locked)
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_eval_markdown_into_a_folder_is_refused_before_evaluating(project, tmp_path):
    dst = tmp_path / 'data'
    assert run(['prepare', project / 'brackets', dst, '--max-side', 32])[0] == 0
    err = refused(['eval', dst, '--markdown', tmp_path], tmp_path)
    assert 'is a folder' in err


def test_eval_names_frames_of_different_sizes(project, tmp_path):
    dst = tmp_path / 'data'
    assert run(['prepare', project / 'brackets', dst, '--max-side', 32, '--crf', 'none'])[0] == 0
    mid = dst / 'mid' / 'scene_00_02_04.png'
    write_image(mid, read_image(mid)[:-2])
    refused(['eval', dst], mid)


# --- 8. decompression bombs ---------------------------------------------------------------------

def png_declaring(path, width, height):
    """A tiny PNG whose IHDR claims ``width`` x ``height`` (valid CRCs, 1x1 of real data)."""
    ok, buf = cv2.imencode('.png', np.zeros((1, 1, 3), np.uint8))
    data = bytearray(buf.tobytes())
    ihdr = bytearray(data[12:29])                  # b'IHDR' + 13 bytes
    ihdr[4:12] = struct.pack('>II', width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize('side, declared', [(10000, '10000x10000 pixels (100.0 MP)'),
                                             (100000, 'more than')])
def test_a_header_declaring_a_huge_image_is_refused_before_decoding(pair, tmp_path, side,
                                                                    declared):
    bomb = png_declaring(tmp_path / 'bomb.png', side, side)
    err = refused(['y0', bomb, pair / 'bright.png', '-o', tmp_path / 'y0.png', *times()], bomb)
    assert f'declares {declared}' in err and f'limit of 64 MP (raise it with {MAX_MEGAPIXELS_ENV}' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bomb.png', 'pair']


def test_the_size_limit_is_configurable(pair, monkeypatch):
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, '0.001')                 # 1000 pixels < 64x48
    with pytest.raises(ImageError, match=r'dark\.png: declares 64x48 pixels .* limit of 0\.001 MP'):
        read_image(pair / 'dark.png')
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, '0.01')
    assert read_image(pair / 'dark.png').shape == (48, 64, 3)
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, 'lots')
    with pytest.raises(ValueError, match=f'{MAX_MEGAPIXELS_ENV}=.lots.: expected a positive'):
        read_image(pair / 'dark.png')


# --- 10. one clear line for every user error ----------------------------------------------------

def test_an_empty_image_is_named(pair, tmp_path):
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    err = refused(['y0', empty, pair / 'bright.png', '-o', tmp_path / 'y0.png', *times()], empty)
    assert 'empty file' in err


def test_convert_minc_errors_exit_2(tmp_path):
    refused(['convert-minc', tmp_path / 'missing.caffemodel', '-o', tmp_path / 'm.pth'],
            'missing.caffemodel')


def test_debevec_on_tiny_images_is_one_line_naming_the_pair(tmp_path):
    frames = render_frames()
    write_image(tmp_path / 'dark.png', frames[0][:2, :2])
    write_image(tmp_path / 'bright.png', frames[-1][:2, :2])
    err = refused(['y0', tmp_path / 'dark.png', tmp_path / 'bright.png', '-o', tmp_path / 'y.png',
                   *times(), '--crf', 'pair:debevec'], 'dark.png', 'bright.png')
    assert 'OpenCV' in err


def test_a_failed_sigmoid_fit_is_one_line(pair, tmp_path, monkeypatch):
    from expinterp_plugin.exposure import imf

    # The fit itself fails (as scipy's does for near-equal times), wherever Y0Mapper is built.
    def no_fit(*args, **kwargs):
        raise imf.SigmoidFitError('double-sigmoid CRF fit did not converge from any initialisation')
    monkeypatch.setattr(imf, 'fit_double_sigmoid', no_fit)
    err = refused(['y0', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'y.png',
                   *times(), '--imf', 'sigmoid'], 'dark.png')
    assert 'did not converge' in err


def test_cuda_without_a_gpu_is_named_as_such(pair, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a CUDA GPU is visible')
    (tmp_path / 'net.pth').write_bytes(b'')
    err = refused(['fuse', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'f.png',
                   '--model', tmp_path / 'net.pth', '--device', 'cuda'], '--device cuda')
    assert 'no CUDA GPU' in err


def test_an_infinite_time_keeps_json_stdout_empty(pair, tmp_path):
    rc, out, err = run(['y0', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'y.png',
                        '--times', '0.1', 'inf', '--json'])
    assert rc == 2 and out == '' and 'finite' in err


# --- 11. folder batches go on past a failing pair -----------------------------------------------

def test_a_folder_batch_reports_a_bad_pair_and_goes_on(tmp_path):
    darks, brights, out = tmp_path / 'D', tmp_path / 'B', tmp_path / 'out'
    frames = render_frames()
    for name in ('a', 'b', 'c'):
        write_image(darks / f'{name}.png', frames[0])
        write_image(brights / f'{name}.png', frames[-1])
    (brights / 'b.png').write_bytes(b'broken')
    before = snapshot(tmp_path)
    rc, stdout, err = run(['fuse', darks, brights, '-o', out, '--imf-only', *times(), '--json'])
    assert rc == 2
    summary = json.loads(stdout)
    assert [Path(r['output']).name for r in summary['pairs']] == ['a.png', 'c.png']
    assert [Path(f['bright']).name for f in summary['failed']] == ['b.png']
    assert f'{brights / "b.png"}: not a readable image' in summary['failed'][0]['error']
    assert '2 pair(s) done, 1 failed' in err and str(darks / 'b.png') in err
    assert sorted(p.name for p in out.iterdir()) == ['a.png', 'c.png']
    assert {k: v for k, v in snapshot(tmp_path).items() if k.parts[0] != 'out'} == before


# --- 12. argument bounds and --version ----------------------------------------------------------

@pytest.mark.parametrize('argv, problem', [
    (['prepare', 'S', 'D', '--workers', '0'], '--workers: must be >= 1'),
    (['simulate', 'D', '--radiance', 'R', '--dorf', 'd.mat', '--iso-max', '0.5'],
     '--iso-max: must be >= 1.0'),
    (['simulate', 'D', '--radiance', 'R', '--dorf', 'd.mat', '--jpeg-prob', '1.5'],
     '--jpeg-prob: must be <= 1.0'),
    (['prepare', 'S', 'D', '--workers', '-3'], '--workers: must be >= 1'),
    (['prepare', 'S', 'D', '--max-side', '-10'], '--max-side: must be >= 1'),
    (['calibrate', 'S', '-o', 'c.npy', '--max-side', '-10'], '--max-side: must be >= 1'),
    (['eval', 'S', '--max-side', '0'], '--max-side: must be >= 1'),
    (['fuse', 'd.png', 'b.png', '-o', 'f.png', '--pair-only', '--times', '0.1', 'nan'],
     '--times: must be a finite number'),
    (['y0', 'd.png', 'b.png', '-o', 'y.png', '--target', '-1'], '--target: must be > 0'),
])
def test_argument_bounds(argv, problem):
    rc, out, err = run(argv)
    assert rc == 2 and out == '' and problem in err


def test_tiny_times_report_the_target_of_their_geometric_mean(pair, tmp_path):
    rc, out, _ = run(['y0', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'y.png',
                      '--times', '1e-300', '1e-299', '--json'])
    assert rc == 0
    assert json.loads(out)['t_target'] == pytest.approx(10 ** -299.5, rel=1e-12)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['--version'])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith('expinterp ')


@pytest.mark.parametrize('command', ['synth', 'prepare', 'y0', 'calibrate'])
def test_a_permission_error_while_writing_is_one_line_naming_the_file(command, tmp_path, project,
                                                                      pair, monkeypatch):
    """Root writes everywhere, so the refusal of the operating system is simulated at the one
    place every command writes through."""
    from expinterp_plugin.exposure import io as image_io

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(13, 'Permission denied', str(dir))
    monkeypatch.setattr(image_io.tempfile, 'mkstemp', denied)
    monkeypatch.setattr(image_io.tempfile, 'mkdtemp', denied)
    out = tmp_path / 'out'
    argv = {'synth': ['synth', out, '--scenes', 1, '--val-scenes', 0, '--size', '16x16'],
            'prepare': ['prepare', project / 'brackets', out, '--crf', 'none'],
            'y0': ['y0', pair / 'dark.png', pair / 'bright.png', '-o', out / 'y.png', *times()],
            'calibrate': ['calibrate', project / 'brackets' / 'scene', '-o', out / 'c.npy']}
    err = refused(argv[command], 'Permission denied')
    assert str(tmp_path) in err


def test_interpolate_checks_its_output_before_loading_the_model(pair, tmp_path):
    before = snapshot(pair)
    err = refused(['interpolate', pair / 'dark.png', pair / 'bright.png', '-o', pair / 'dark.png',
                   '--model', tmp_path / 'missing.pth'], 'dark.png')
    assert 'is the input' in err and 'missing.pth' not in err
    assert snapshot(pair) == before


# --- found in the review of 2026-12-02 ----------------------------------------------------------

def test_folder_batch_figures_may_not_share_the_output_folder(tmp_path):
    darks, brights, out = tmp_path / 'D', tmp_path / 'B', tmp_path / 'out'
    frames = render_frames()
    write_image(darks / 'p0.png', frames[0])
    write_image(brights / 'p0.png', frames[-1])
    err = refused(['fuse', darks, brights, '-o', out, '--imf-only', *times(),
                   '--save-figure', out], out)
    assert 'figures would overwrite the outputs' in err and not out.exists()


def test_y0_save_crf_may_not_replace_the_crf_it_reads(pair, tmp_path):
    table = tmp_path / 'camera.txt'
    assert run(['y0', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'a.png',
                *times(), '--save-crf', table])[0] == 0
    before = table.read_bytes()
    err = refused(['y0', pair / 'dark.png', pair / 'bright.png', '-o', tmp_path / 'b.png',
                   *times(), '--crf', table, '--save-crf', table], table)
    assert 'is the input' in err and table.read_bytes() == before
    assert not (tmp_path / 'b.png').exists()


def test_eval_markdown_is_a_md_file_and_never_a_frame_of_the_data(project, tmp_path):
    dst = tmp_path / 'data'
    assert run(['prepare', project / 'brackets', dst, '--max-side', 32])[0] == 0
    before = snapshot(dst)
    frame = dst / 'mid' / 'scene_00_02_04.png'
    err = refused(['eval', dst, '--markdown', frame], frame)
    assert "unknown file type '.png'" in err and snapshot(dst) == before


def test_eval_order_without_fusion_is_refused(project, tmp_path):
    dst = tmp_path / 'data'
    assert run(['prepare', project / 'brackets', dst, '--max-side', 32])[0] == 0
    err = refused(['eval', dst, '--order'])
    assert '--order scores the fusions: give --fusion too' in err


@pytest.mark.parametrize('text, problem', [
    ('network_g: {type: DenoiseNet\n', 'not valid YAML'),
    ('network_g: {type: NoSuchArch}\n', 'network_g cannot be built'),
    ('network_g: {type: DenoiseNet, no_such_argument: 1}\n', 'network_g cannot be built')])
def test_a_broken_option_file_is_one_line_naming_it(pair, tmp_path, text, problem):
    ckpt, opt = tmp_path / 'net.pth', tmp_path / 'opt.yml'
    ckpt.write_bytes(b'')
    opt.write_text(text)
    err = refused(['interpolate', pair / 'dark.png', pair / 'bright.png', '-o',
                   tmp_path / 'out.png', *times(), '--model', ckpt, '--opt', opt], opt)
    assert problem in err and not (tmp_path / 'out.png').exists()


def test_folder_batches_skip_hidden_files(tmp_path):
    darks, brights, out = tmp_path / 'D', tmp_path / 'B', tmp_path / 'out'
    frames = render_frames()
    write_image(darks / 'p0.png', frames[0])
    write_image(brights / 'p0.png', frames[-1])
    (darks / '._p0.png').write_bytes(b'AppleDouble')
    rc, stdout, _ = run(['fuse', darks, brights, '-o', out, '--imf-only', *times(), '--json'])
    assert rc == 0 and [Path(r['output']).name for r in json.loads(stdout)['pairs']] == ['p0.png']
