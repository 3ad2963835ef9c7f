"""`expinterp interpolate` and `expinterp fuse`: outputs, batch folders, figures, errors."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from expinterp_plugin.cli import main
from expinterp_plugin.exposure import interpolate_exposure, mertens_fuse
from expinterp_plugin.exposure.io import read_image, to_dtype, write_image
from expinterp_plugin.exposure.pyramid_fusion import coarse_middle_fuse
from expinterp_plugin.figures import curve_plot, strip_size
from test_inference import TINY_DENOISE, pair, write_experiment

T_DARK, T_BRIGHT = 1 / 64, 1 / 4
TIMES = ['--times', str(T_DARK), str(T_BRIGHT)]
SIZE = (40, 56)  # height, width


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """A tiny hybrid DenoiseNet saved as BasicSR leaves a run; (checkpoint, network)."""
    return write_experiment(tmp_path_factory.mktemp('run'), TINY_DENOISE)


@pytest.fixture
def files(tmp_path):
    """An 8-bit pair on disk: (dark path, bright path, dark, bright)."""
    dark, _, bright = pair(SIZE)
    write_image(tmp_path / 'dark.png', dark)
    write_image(tmp_path / 'bright.png', bright)
    return tmp_path / 'dark.png', tmp_path / 'bright.png', dark, bright


def cli(*argv):
    return main([str(a) for a in argv])


def coarse_middle(dark, middle, bright):
    """The default fusion of a small pair (its middle frame at full size), uint8 codes."""
    return to_dtype(np.clip(coarse_middle_fuse(dark, bright, (0, dark, middle, bright)), 0, 1),
                    np.uint8)


def model_output(ckpt, dark, bright, tile=None):
    from expinterp_plugin.inference import load_interpolator
    return load_interpolator(ckpt)(dark, bright, T_DARK, T_BRIGHT, crf='srgb', tile=tile)


class TestInterpolate:
    def test_writes_the_model_output_at_the_input_bit_depth(self, experiment, files, tmp_path,
                                                            capsys):
        ckpt, _ = experiment
        dark_path, bright_path, dark, bright = files
        out = tmp_path / 'mid.png'
        assert cli('interpolate', dark_path, bright_path, '-o', out, '--model', ckpt, *TIMES,
                   '--crf', 'srgb', '--tile', 16, '--tile-pad', 8, '--json') == 0
        summary = json.loads(capsys.readouterr().out)
        written = read_image(out)
        assert written.shape == dark.shape and written.dtype == np.uint8
        expected = to_dtype(model_output(ckpt, dark, bright), np.uint8)
        # tiles with 8 px of context: at most one code of rounding apart from the untiled run
        assert np.abs(written.astype(int) - expected).max() <= 1
        assert (written == expected).mean() > 0.99
        assert summary['mode'] == 'hybrid' and summary['tile'] == 16
        record = summary['pairs'][0]
        assert record['times_from'] == 'arguments' and record['crf'] == 'srgb'
        assert record['t_target'] == pytest.approx(math.sqrt(T_DARK * T_BRIGHT))

    def test_16_bit_in_16_bit_out(self, experiment, tmp_path):
        ckpt, _ = experiment
        dark, _, bright = pair(SIZE, dtype=np.uint16)
        write_image(tmp_path / 'd.png', dark)
        write_image(tmp_path / 'b.png', bright)
        assert cli('interpolate', tmp_path / 'd.png', tmp_path / 'b.png', '-o',
                   tmp_path / 'm.png', '--model', ckpt, *TIMES, '--crf', 'srgb', '--tile', 0) == 0
        written = read_image(tmp_path / 'm.png')
        assert written.dtype == np.uint16
        np.testing.assert_array_equal(
            written, to_dtype(model_output(ckpt, dark, bright), np.uint16))

    def test_figure_strip_and_curves(self, experiment, files, tmp_path):
        ckpt, _ = experiment
        dark_path, bright_path, _, _ = files
        figure = tmp_path / 'fig' / 'strip.png'
        assert cli('interpolate', dark_path, bright_path, '-o', tmp_path / 'm.png', '--model',
                   ckpt, *TIMES, '--crf', 'srgb', '--save-figure', figure) == 0
        strip = read_image(figure)
        # dark | y0 | output | bright, at full size (narrower than the strip's limit)
        assert strip.shape[:2] == strip_size(*SIZE, 4) == (28 + 40, 4 * 56 + 3 * 4)
        curves = read_image(tmp_path / 'fig' / 'strip_curves.png')
        assert curves.shape == (480, 1100, 3)

    def test_missing_checkpoint_is_named(self, files, tmp_path, capsys):
        dark_path, bright_path, _, _ = files
        assert cli('interpolate', dark_path, bright_path, '-o', tmp_path / 'm.png', '--model',
                   tmp_path / 'none.pth', *TIMES) == 2
        assert f'{tmp_path / "none.pth"}: model checkpoint not found' in capsys.readouterr().err
        assert not (tmp_path / 'm.png').exists()

    def test_mismatched_sizes_name_both_files(self, experiment, files, tmp_path, capsys):
        ckpt, _ = experiment
        dark_path, _, _, bright = files
        write_image(tmp_path / 'small.png', bright[:20])
        assert cli('interpolate', dark_path, tmp_path / 'small.png', '-o', tmp_path / 'm.png',
                   '--model', ckpt, *TIMES) == 2
        err = capsys.readouterr().err
        assert f'{dark_path} is 56x40 but {tmp_path / "small.png"} is 56x20' in err


class TestFuse:
    def test_pair_only_is_mertens_of_the_two_inputs(self, files, tmp_path):
        dark_path, bright_path, dark, bright = files
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--pair-only') == 0
        fused = read_image(tmp_path / 'f.png')
        np.testing.assert_array_equal(fused, mertens_fuse([bright, dark]))

    def test_imf_only_fuses_y0(self, files, tmp_path):
        dark_path, bright_path, dark, bright = files
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--imf-only',
                   *TIMES, '--crf', 'srgb', '--xi-l', 20) == 0
        y0 = interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb', xi_l=20)
        expected = mertens_fuse([bright, to_dtype(y0, np.uint8), dark])
        np.testing.assert_array_equal(read_image(tmp_path / 'f.png'), expected)
        assert not np.array_equal(expected, mertens_fuse([bright, dark]))

    def test_model_fuses_the_network_output(self, experiment, files, tmp_path):
        ckpt, _ = experiment
        dark_path, bright_path, dark, bright = files
        figure = tmp_path / 'strip.png'
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--model', ckpt,
                   *TIMES, '--crf', 'srgb', '--tile', 0, '--save-figure', figure) == 0
        middle = to_dtype(model_output(ckpt, dark, bright), np.uint8)
        np.testing.assert_array_equal(read_image(tmp_path / 'f.png'),
                                      coarse_middle(dark, middle, bright))
        # dark | y0 | output | bright | fused
        assert read_image(figure).shape[:2] == strip_size(*SIZE, 5)
        assert (tmp_path / 'strip_curves.png').is_file()
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'g.png', '--model', ckpt,
                   *TIMES, '--crf', 'srgb', '--tile', 0, '--fusion', 'three-frame') == 0
        np.testing.assert_array_equal(read_image(tmp_path / 'g.png'),
                                      mertens_fuse([bright, middle, dark]))

    def test_pair_only_figure_has_no_curves(self, files, tmp_path):
        dark_path, bright_path, _, _ = files
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--pair-only',
                   '--save-figure', tmp_path / 's.png') == 0
        assert read_image(tmp_path / 's.png').shape[:2] == strip_size(*SIZE, 3)
        assert not (tmp_path / 's_curves.png').exists()

    def test_default_is_the_coarse_middle_fusion_with_y0(self, files, tmp_path, capsys):
        dark_path, bright_path, dark, bright = files
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', *TIMES, '--crf',
                   'srgb', '--json') == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary['method'], summary['fusion']) == ('y0', 'coarse-middle')
        assert summary['pairs'][0]['middle_level'] == 0
        assert summary['pairs'][0]['fallback'] is None
        y0 = to_dtype(interpolate_exposure(dark, bright, T_DARK, T_BRIGHT, 'srgb'), np.uint8)
        fused = read_image(tmp_path / 'f.png')
        np.testing.assert_array_equal(fused, coarse_middle(dark, y0, bright))
        assert not np.array_equal(fused, mertens_fuse([bright, dark]))
        assert not np.array_equal(fused, mertens_fuse([bright, y0, dark]))

    def test_shorthands_and_fusion_choice_must_agree(self, files, tmp_path, capsys):
        dark_path, bright_path, _, _ = files
        with pytest.raises(SystemExit):
            cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--imf-only',
                '--pair-only')
        capsys.readouterr()
        assert cli('fuse', dark_path, bright_path, '-o', tmp_path / 'f.png', '--pair-only',
                   '--fusion', 'coarse-middle') == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and '--pair-only means --fusion pair' in err
        assert not (tmp_path / 'f.png').exists()

    def test_a_pair_whose_y0_fails_is_fused_alone_with_a_warning(self, tmp_path, capsys):
        """EXIF that records the same time for both frames: no middle frame can be made."""
        from PIL import Image
        dark, _, bright = pair(SIZE)
        paths = []
        for name, img in (('dark', dark), ('bright', bright)):
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x829A] = 0.01  # ExposureTime, both frames alike
            Image.fromarray(img).save(tmp_path / f'{name}.png', exif=exif.tobytes())
            paths.append(tmp_path / f'{name}.png')
        assert cli('fuse', *paths, '-o', tmp_path / 'f.png', '--json') == 0
        captured = capsys.readouterr()
        record = json.loads(captured.out)['pairs'][0]
        assert 'must be shorter' in record['fallback']
        assert 'expinterp: warning:' in captured.err and 'fused the pair alone' in captured.err
        np.testing.assert_array_equal(read_image(tmp_path / 'f.png'), mertens_fuse(
            [bright, dark]))

    def test_imf_only_does_not_import_torch(self, files, tmp_path):
        dark_path, bright_path, _, _ = files
        code = ('import sys; from expinterp_plugin.cli import main; '
                f'rc = main(["fuse", r"{dark_path}", r"{bright_path}", "-o", '
                f'r"{tmp_path / "f.png"}", "--imf-only", "--times", "{T_DARK}", "{T_BRIGHT}"]); '
                'print(rc, "torch" in sys.modules)')
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                              check=True)
        assert done.stdout.split()[-2:] == ['0', 'False']


class TestBatch:
    @pytest.fixture
    def folders(self, tmp_path):
        """dark/{a,b}.png and bright/{x,y}.png: two pairs by sorted order, two sizes."""
        made = {}
        for name, other, size, seed in (('a', 'x', (40, 56), 0), ('b', 'y', (32, 48), 1)):
            dark, _, bright = pair(size, seed)
            write_image(tmp_path / 'dark' / f'{name}.png', dark)
            write_image(tmp_path / 'bright' / f'{other}.png', bright)
            made[name] = dark, bright
        return tmp_path / 'dark', tmp_path / 'bright', made

    def test_folders_pair_in_sorted_order(self, experiment, folders, tmp_path, capsys):
        ckpt, _ = experiment
        dark_dir, bright_dir, made = folders
        out, figures = tmp_path / 'out', tmp_path / 'figs'
        assert cli('fuse', dark_dir, bright_dir, '-o', out, '--model', ckpt, *TIMES, '--crf',
                   'srgb', '--tile', 0, '--save-figure', figures, '--json') == 0
        records = json.loads(capsys.readouterr().out)['pairs']
        assert [Path(r['bright']).name for r in records] == ['x.png', 'y.png']
        for name, (dark, bright) in made.items():
            middle = to_dtype(model_output(ckpt, dark, bright), np.uint8)
            np.testing.assert_array_equal(read_image(out / f'{name}.png'),
                                          coarse_middle(dark, middle, bright))
            assert read_image(figures / f'{name}.png').shape[:2] == strip_size(
                *dark.shape[:2], 5)
            assert (figures / f'{name}_curves.png').is_file()

    def test_unequal_folders_are_refused(self, folders, tmp_path, capsys):
        dark_dir, bright_dir, _ = folders
        (bright_dir / 'y.png').unlink()
        assert cli('fuse', dark_dir, bright_dir, '-o', tmp_path / 'out', '--pair-only') == 2
        assert f'{dark_dir} holds 2 images but {bright_dir} holds 1' in capsys.readouterr().err

    def test_file_and_folder_do_not_mix(self, folders, files, tmp_path, capsys):
        dark_dir, _, _ = folders
        _, bright_path, _, _ = files
        assert cli('fuse', dark_dir, bright_path, '-o', tmp_path / 'out', '--pair-only') == 2
        assert 'give two image files or two folders' in capsys.readouterr().err


def test_curve_plot_size_and_content():
    """The curve plot is drawn at the requested size with every channel's curve visible."""
    from expinterp_plugin.exposure.crf import CRF
    from expinterp_plugin.exposure.y0 import Y0Mapper
    from expinterp_plugin.figures import CHANNEL_COLOURS
    codes = (np.arange(256) + 0.25) / 255.25
    crf = CRF(np.log(codes[:, None] ** np.array([1.6, 2.2, 2.8])), name='three gammas')
    img = curve_plot(Y0Mapper(crf, T_DARK, T_BRIGHT), size=(300, 700))
    assert img.shape == (300, 700, 3) and img.dtype == np.uint8
    for colour in CHANNEL_COLOURS:
        assert (img == colour).all(axis=2).sum() > 50


def test_the_command_offers_exactly_the_fusions_of_the_application():
    """commands/fuse.py keeps its own tuple so that building the parser imports no pair code."""
    from expinterp_plugin.commands import fuse as fuse_command
    from expinterp_plugin.fusion import DEFAULT_FUSION, FUSION_METHODS
    assert fuse_command.FUSIONS == FUSION_METHODS and FUSION_METHODS[0] == DEFAULT_FUSION
