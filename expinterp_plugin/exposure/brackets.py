"""Bracketed sequences and the triplet layout (docs/design.md, "Data layout").

A *bracket* is one folder of exposures of a static scene, with times in ``exposures.txt``
(``FILENAME SECONDS`` lines) or in each file's EXIF. The *triplet layout* is what training and
evaluation read: ``ROOT/{low,mid,high}/NAME.ext`` plus ``ROOT/exposures.txt`` with
``NAME t_low t_mid t_high`` lines and optionally ``ROOT/crf/NAME.npy``.
"""
import math
from dataclasses import dataclass
from pathlib import Path

from expinterp_plugin.exposure.io import ImageError, read_table
from expinterp_plugin.exposure.metadata import equivalent_exposure_times, exif_exposure_time

#: File types read as images (what OpenCV decodes): bracket folders, DARK/BRIGHT folders.
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp', '.ppm', '.pgm', '.webp')
FRAMES = ('low', 'mid', 'high')


def is_image(path):
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and \
        not path.name.startswith('.')


def bracket_exposures(scene_dir):
    """[(path, seconds), ...] of a bracket folder, sorted by exposure time.

    Times come from ``scene_dir/exposures.txt`` when present, else from EXIF ExposureTime
    (scaled to the first frame's ISO and aperture when every frame records them).
    """
    scene_dir = Path(scene_dir)
    files = sorted(p for p in scene_dir.iterdir() if is_image(p))
    listing = scene_dir / 'exposures.txt'
    listed = {k: v[0] for k, v in read_table(listing, 1).items()} if listing.is_file() else {}
    # EXIF times at one ISO and aperture when every frame records them (phones vary ISO)
    exif = {} if listed else dict(zip(files, equivalent_exposure_times(files) or []))
    frames = []
    for path in files:
        t = listed.get(path.name) or exif.get(path) or exif_exposure_time(path)
        if t is None:
            raise ImageError(f'{path}: no exposure time (not in {listing.name}, no EXIF '
                             'ExposureTime)')
        frames.append((path, float(t)))
    missing = set(listed) - {p.name for p in files}
    if missing:
        raise ImageError(f'{listing}: lists files that do not exist: {", ".join(sorted(missing))}')
    times = [t for _, t in frames]
    if len(set(times)) != len(times):
        raise ImageError(f'{scene_dir}: two frames share one exposure time')
    return sorted(frames, key=lambda f: f[1])


def select_triplets(times, ev=4.0, ev_tol=0.25, mid_tol=0.2):
    """(dark, mid, bright) index triples of ``times`` (sorted ascending).

    Bright/dark ratio ``ev`` +- ``ev_tol`` stops and the middle within ``mid_tol`` stops of the
    geometric mean of the two.
    """
    logs = [math.log2(t) for t in times]
    triplets = []
    for i, lo in enumerate(logs):
        for k in range(i + 1, len(logs)):
            if abs(logs[k] - lo - ev) > ev_tol:
                continue
            centre = (lo + logs[k]) / 2
            mids = [j for j in range(i + 1, k) if abs(logs[j] - centre) <= mid_tol]
            if mids:
                triplets.append((i, min(mids, key=lambda j: abs(logs[j] - centre)), k))
    return triplets


@dataclass(frozen=True)
class Triplet:
    """One scene of the triplet layout: file paths and exposure times (s)."""
    name: str
    low: Path
    mid: Path
    high: Path
    t_low: float
    t_mid: float
    t_high: float
    crf: Path = None


def _find_frame(folder, name):
    matches = [p for p in folder.glob(f'{name}.*') if is_image(p)] if folder.is_dir() else []
    if not matches:
        raise ImageError(f'{folder / name}.*: missing frame of scene {name!r}')
    if len(matches) > 1:
        raise ImageError(f'{folder}: several files for scene {name!r}: '
                         f'{", ".join(p.name for p in matches)}')
    return matches[0]


def read_triplet_layout(root):
    """The scenes of a triplet-layout folder, in the order of its exposures.txt."""
    root = Path(root)
    listing = root / 'exposures.txt'
    if not listing.is_file():
        raise ImageError(f'{listing}: missing (lines "NAME t_low t_mid t_high")')
    triplets = []
    for name, (t_low, t_mid, t_high) in read_table(listing, 3).items():
        if not t_low < t_mid < t_high:
            raise ImageError(f'{listing}: times of {name!r} are not increasing low < mid < high')
        crf = root / 'crf' / f'{name}.npy'
        paths = [_find_frame(root / f, name) for f in FRAMES]
        triplets.append(Triplet(name, *paths, t_low, t_mid, t_high,
                                crf if crf.is_file() else None))
    if not triplets:
        raise ImageError(f'{listing}: lists no scenes')
    return triplets
