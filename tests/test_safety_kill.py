"""Issue 9, item 3: a run killed at any moment leaves the complete old or the complete new result.

``expinterp prepare --overwrite`` and ``expinterp fuse`` (a large output) are started in a
subprocess and SIGKILLed at observed points (the temporary folder has appeared, holds 40 frames,
is complete before the swap; the output's part file is written but not renamed) and after seeded
random delays spread over a full run; after each kill the destination must equal, byte for byte,
the old result or the new one. A rerun then removes the marked leftovers of the killed runs.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from expinterp_plugin.exposure.io import interrupted_writes, temp_sibling_prefix, write_image
from expinterp_plugin.exposure.prepare import MANIFEST_NAME, remove_interrupted_runs
from test_core_prepare import TIMES, render_frames, write_bracket

RANDOM_KILLS = 2


def snapshot(folder):
    folder = Path(folder)
    if not folder.exists():
        return None
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def expinterp(*argv):
    return [sys.executable, '-m', 'expinterp_plugin.cli', *map(str, argv)]


# Runs the CLI with every rename of a finished ``.part`` file delayed by 0.3 s (test side only:
# the delay is patched into the child process, production code has no hook), so that a kill
# can land between the complete temporary file and the rename.
PAUSE_BEFORE_RENAME = """
import os, sys, time
_replace = os.replace
def _slow_replace(src, dst, *args, **kwargs):
    if str(src).endswith('.part'):
        time.sleep(0.3)
    return _replace(src, dst, *args, **kwargs)
os.replace = _slow_replace
from expinterp_plugin.cli import main
sys.exit(main(sys.argv[1:]))
"""


def expinterp_pausing_before_renames(*argv):
    return [sys.executable, '-c', PAUSE_BEFORE_RENAME, *map(str, argv)]


ENV = dict(os.environ, OMP_NUM_THREADS='1')


def run_to_end(argv):
    """Run to completion; returns the wall time."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - started


def run_and_kill(argv, delay=None, when=None):
    """Start ``argv`` and SIGKILL it ``delay`` seconds after its start, or as soon as
    ``when()`` holds (polled every 0.2 ms: the moment a temporary file or folder appears, say).
    Returns whether the kill happened (False: the run ended first)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    started = time.perf_counter()
    while proc.poll() is None:
        if (when() if when is not None else time.perf_counter() - started >= delay):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0002)
    return False


def kill_delays(duration, seed):
    """Seeded random delays over the later 70 % of a run (the first 30 % is interpreter start)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0.3, 1.0) * duration for _ in range(RANDOM_KILLS))


@pytest.fixture
def brackets(tmp_path):
    """src/ with three scenes of the five-frame bracket at 96x72."""
    src = tmp_path / 'src'
    for seed in range(3):
        write_bracket(src / f'scene{seed}', render_frames(size=(96, 72), seed=seed), TIMES)
    return src


def temp_folders(dst):
    return [p for p in dst.parent.iterdir() if p.name.startswith(temp_sibling_prefix(dst))]


def building(dst, files):
    """A kill point: a temporary sibling of ``dst`` holds at least ``files`` files."""
    def check():
        try:
            return any(sum(1 for _ in t.rglob('*.png')) >= files for t in temp_folders(dst))
        except FileNotFoundError:  # the run removed a sibling while it was being counted
            return False
    return check


def about_to_swap(dst):
    """A kill point: a temporary sibling's manifest says complete (the swap comes next)."""
    def check():
        return any('"complete": true' in ((t / MANIFEST_NAME).read_text()
                                          if (t / MANIFEST_NAME).is_file() else '')
                   for t in temp_folders(dst))
    return check


@pytest.mark.slow
def test_prepare_overwrite_killed_anywhere_leaves_old_or_new(brackets, tmp_path):
    dst = tmp_path / 'data'
    old_argv = expinterp('prepare', brackets, dst, '--crf', 'none', '--crop', 16)
    new_argv = expinterp('prepare', brackets, dst, '--crf', 'none', '--crop', 24, '--overwrite')
    run_to_end(old_argv)
    old = snapshot(dst)
    shutil.copytree(dst, tmp_path / 'old-copy', symlinks=True)
    duration = run_to_end(new_argv)
    new = snapshot(dst)
    assert old != new and (dst / MANIFEST_NAME).is_file()
    points = [dict(when=building(dst, 1)), dict(when=building(dst, 40)),
              dict(when=about_to_swap(dst))]
    points += [dict(delay=d) for d in kill_delays(duration, seed=9)]
    outcomes = []
    for point in points:
        shutil.rmtree(dst)
        shutil.copytree(tmp_path / 'old-copy', dst, symlinks=True)
        killed = run_and_kill(new_argv, **point)
        state = snapshot(dst)
        assert state in (old, new), f'{point} left a mixed {dst}'
        outcomes.append((killed, 'new' if state == new else 'old', len(temp_folders(dst))))
    # The first two points kill the build half-way: the old dataset stays, a marked leftover too.
    assert outcomes[0][:2] == outcomes[1][:2] == (True, 'old') and outcomes[1][2] == 1, outcomes
    run_to_end(new_argv)
    assert snapshot(dst) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'old-copy', 'src'], outcomes


@pytest.mark.slow
def test_fuse_killed_while_writing_a_large_output_leaves_old_or_new(tmp_path):
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.uniform(0.02, 1.0, (60, 80, 3)), (1200, 900))
    for name, scale in (('dark', 0.5), ('bright', 8.0)):
        write_image(tmp_path / f'{name}.png',
                    np.clip(255 * (base * scale) ** (1 / 2.2), 0, 255).astype(np.uint8))
    out = tmp_path / 'fused.ppm'  # uncompressed, 3.2 MB: the write itself takes a while
    argv = expinterp('fuse', tmp_path / 'dark.png', tmp_path / 'bright.png', '-o', out,
                     '--pair-only')
    duration = run_to_end(argv)
    new = out.read_bytes()
    paused = expinterp_pausing_before_renames(*argv[3:])
    points = [(paused, dict(when=lambda: bool(interrupted_writes(out))))]
    points += [(argv, dict(delay=d)) for d in kill_delays(duration, seed=10)]
    outcomes = []
    for command, point in points:
        write_image(out, np.zeros((8, 8, 3), np.uint8))
        old = out.read_bytes()
        killed = run_and_kill(command, **point)
        assert out.read_bytes() in (old, new), f'{point}'
        outcomes.append((killed, 'new' if out.read_bytes() == new else 'old',
                         len(interrupted_writes(out))))
    # Killed with the part file written but not yet renamed: the old output stays, the part is
    # left (and the next run removes it).
    assert outcomes[0] == (True, 'old', 1), outcomes
    run_to_end(argv)
    assert out.read_bytes() == new and interrupted_writes(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bright.png', 'dark.png', 'fused.ppm']


def test_a_rerun_restores_a_complete_dataset_left_aside_and_removes_only_marked_folders(tmp_path):
    """The state a kill between the two renames of the non-atomic swap (no renameat2) leaves:
    DST missing, the complete old dataset in a marked sibling."""
    dst = tmp_path / 'data'
    aside = tmp_path / f'{temp_sibling_prefix(dst)}old-abc'
    aside.mkdir()
    (aside / MANIFEST_NAME).write_text('{"tool": "expinterp prepare", "complete": true}')
    (aside / 'exposures.txt').write_text('x 1 2 4\n')
    dead = tmp_path / f'{temp_sibling_prefix(dst)}def'
    dead.mkdir()
    (dead / MANIFEST_NAME).write_text('{"tool": "expinterp prepare", "complete": false, '
                                      '"pid": 999999999}')
    live = tmp_path / f'{temp_sibling_prefix(dst)}ghi'
    live.mkdir()
    (live / MANIFEST_NAME).write_text('{"tool": "expinterp prepare", "complete": false, '
                                      f'"pid": {os.getpid()}}}')
    foreign = tmp_path / f'{temp_sibling_prefix(dst)}user'
    foreign.mkdir()
    (foreign / 'photo.jpg').write_bytes(b'mine')
    removed = remove_interrupted_runs(dst)
    assert sorted(p.name for p in removed) == [dead.name]
    assert (dst / 'exposures.txt').read_text() == 'x 1 2 4\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(['data', live.name, foreign.name])
