"""Camera shake and moving objects for simulated brackets (issue 18), numpy + OpenCV.

A handheld bracket differs from a tripod one by the camera moving between the frames and by
objects moving in the scene. Both are applied to the linear radiance, before exposure, so the
sensor, response and JPEG of each frame see them as a camera would.

The middle frame is the reference: it keeps the scene's geometry (it is cut from the canvas
without resampling), so the ground truth a refiner learns stays put; the dark and the bright
frame are moved.

Coordinates: (x, y), pixel centres at integers, of a square frame of ``size`` pixels. Frames are
cut from a *canvas*: the scene with ``margin`` more pixels of it on each side, so that a moved
frame shows scene where a tripod frame's border would be, not a repeated edge.

* **Camera shake** of frame n: a similarity S_n (rotation by theta about the frame centre c,
  then a translation t): frame n shows the scene at S_n(x) = R(theta) (x - c) + c + t.
  Records keep ``inv(S_n)``, which maps a reference pixel to where its content lies in frame n:
  the convention of ``align.Alignment.matrix`` (reference -> moving), so an estimate can be
  compared with it directly.
* **Moving objects**: a block or a disc of the canvas (its texture times a gain, so it stands
  out), pasted at its position in the middle frame and displaced by its own offset in the dark
  and bright frames; a frame changes only under the objects' footprints (their boxes grown by
  one pixel of bilinear edge). Objects are pasted before the camera warp: they move with the
  camera too.
"""
import math

import cv2
import numpy as np

#: Frame indices in bracket order (dark, mid, bright); the middle one is the reference.
MOVED_FRAMES = (0, 2)
OBJECT_SHAPES = ('block', 'disc')
#: Extra canvas pixels beyond the largest displacement: the two taps of bilinear sampling.
_SAMPLING_MARGIN = 2


def shake_margin(size, max_shift_px, max_rotation_deg):
    """Canvas margin (int pixels) that covers every similarity ``draw_shake`` can draw for a
    frame of ``size`` pixels: the shift plus the rotation's travel at the frame's corners."""
    corner = math.radians(max_rotation_deg) * (size - 1) / math.sqrt(2.0)
    return math.ceil(max_shift_px + corner) + _SAMPLING_MARGIN


def draw_shake(rng, size, max_shift_px, max_rotation_deg):
    """One frame's camera shake: float64 (3, 3), reference pixel -> frame pixel (``inv(S)``).

    The translation's length is uniform in [0, max_shift_px] (small shakes are the common
    ones), its direction uniform; the rotation uniform in +-max_rotation_deg about the centre.
    """
    length = rng.uniform(0.0, max_shift_px)
    direction = rng.uniform(0.0, 2.0 * math.pi)
    angle = rng.uniform(-max_rotation_deg, max_rotation_deg)
    centre = (size - 1) / 2.0
    sample = np.vstack([cv2.getRotationMatrix2D((centre, centre), angle, 1.0), [0.0, 0.0, 1.0]])
    sample[:2, 2] += (length * math.cos(direction), length * math.sin(direction))
    return np.linalg.inv(sample)


def draw_objects(rng, count, size, margin, max_shift_px, size_range):
    """``count`` moving objects for a frame of ``size`` pixels on a canvas of ``margin``.

    Each is a dict (JSON-ready): 'shape' ('block' or 'disc' inscribed in the box), 'size'
    [w, h] (ints, ``size_range`` fractions of the frame side), 'position' [x, y] (top-left in
    the middle frame, floats, at least half the object inside it), 'source' [x, y] (ints, the
    top-left of its texture on the canvas, in frame coordinates), 'gain' (its radiance factor,
    2^U(-1, 1)), 'displacement' [[dx, dy] per frame] ((0, 0) for the middle frame, length
    uniform in [0, max_shift_px] for the others).
    """
    objects = []
    for _ in range(count):
        w, h = (max(2, int(round(f * size))) for f in rng.uniform(*size_range, size=2))
        shape = OBJECT_SHAPES[int(rng.integers(len(OBJECT_SHAPES)))]
        position = [float(rng.uniform(-w / 2, size - w / 2)),
                    float(rng.uniform(-h / 2, size - h / 2))]
        source = [int(rng.integers(-margin, size + margin - w + 1)),
                  int(rng.integers(-margin, size + margin - h + 1))]
        gain = float(2.0 ** rng.uniform(-1.0, 1.0))
        displacement = [[0.0, 0.0] for _ in range(3)]
        for n in MOVED_FRAMES:
            length, direction = rng.uniform(0.0, max_shift_px), rng.uniform(0.0, 2.0 * math.pi)
            displacement[n] = [float(length * math.cos(direction)),
                               float(length * math.sin(direction))]
        objects.append({'shape': shape, 'size': [w, h], 'position': position, 'source': source,
                        'gain': gain, 'displacement': displacement})
    return objects


def object_alpha(shape, w, h):
    """Coverage float32 (h, w) in [0, 1] of an object's box: all ones for a block; for a disc,
    the ellipse inscribed in the box, 4x4 supersampled so its edge is not staircased."""
    if shape == 'block':
        return np.ones((h, w), np.float32)
    sub = (np.arange(4 * max(w, h)) + 0.5) / 4.0
    xs, ys = sub[:4 * w], sub[:4 * h]
    inside = ((xs[None, :] - w / 2) / (w / 2)) ** 2 + ((ys[:, None] - h / 2) / (h / 2)) ** 2 <= 1
    return inside.reshape(h, 4, w, 4).mean(axis=(1, 3)).astype(np.float32)


def paste_objects(canvas, objects, margin, frame):
    """``canvas`` (linear RGB float32 (H, W, 3)) with ``objects`` pasted where they are in
    ``frame`` (0 dark, 1 mid, 2 bright): a new array; textures are taken from ``canvas``
    itself. Positions are sub-pixel: bilinear placement, premultiplied alpha."""
    out = canvas.copy()
    size = (canvas.shape[1], canvas.shape[0])
    for obj in objects:
        w, h = obj['size']
        sx, sy = obj['source'][0] + margin, obj['source'][1] + margin
        alpha = object_alpha(obj['shape'], w, h)
        texture = canvas[sy:sy + h, sx:sx + w] * np.float32(obj['gain']) * alpha[..., None]
        x = obj['position'][0] + obj['displacement'][frame][0] + margin
        y = obj['position'][1] + obj['displacement'][frame][1] + margin
        place = np.float64([[1.0, 0.0, x], [0.0, 1.0, y]])
        cover = cv2.warpAffine(alpha, place, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
        layer = cv2.warpAffine(np.ascontiguousarray(texture), place, size,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out = out * (1.0 - cover[..., None]) + layer
    return out


def frame_radiance(canvas, margin, frame, motion=None, objects=()):
    """The radiance frame ``frame`` (0 dark, 1 mid, 2 bright) sees: float32 (size, size, 3)
    with size = canvas side - 2 margin.

    Args:
        canvas: linear RGB float32 (size + 2 margin, size + 2 margin, 3), the scene with
            ``margin`` pixels around the frame.
        motion: None (the frame keeps the reference geometry: cut without resampling) or the
            frame's shake, float64 (3, 3) reference -> frame (``draw_shake``).
        objects: ``draw_objects`` records.
    """
    size = canvas.shape[0] - 2 * margin
    scene = paste_objects(canvas, objects, margin, frame) if objects else canvas
    if motion is None:
        return np.ascontiguousarray(scene[margin:margin + size, margin:margin + size])
    # Frame pixel x shows the scene at S x = inv(motion) x, i.e. canvas pixel S x + margin.
    to_canvas = np.float64([[1, 0, margin], [0, 1, margin], [0, 0, 1]]) @ np.linalg.inv(motion)
    return cv2.warpAffine(scene, to_canvas[:2], (size, size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
