"""PNG figures of an interpolation, drawn with OpenCV (no plotting library needed).

- ``comparison_strip``: labelled panels side by side (dark | y0 | output | bright | fused),
  downscaled to a total width;
- ``curve_plot``: the CRF g_c(z) = ln F_c^-1(z) and the two IMFs to the target time
  (bright -> target, dark -> target) of a ``Y0Mapper``;
- ``Axes``: the line-plot primitive both use and benchmarks/reproduce.py draws its training
  curves with (ticks, labels, curves, min-max bands, dashed levels, a key), in a dark or light
  ``Style``.

Every image here is RGB: inputs are uint8/uint16 codes or float [0, 1], the figures uint8
(H, W, 3) RGB, written with ``exposure.io.write_image`` (which converts to OpenCV's BGR).
"""
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from expinterp_plugin.exposure.io import to_uint8, write_image

LABEL_HEIGHT = 28
GAP = 4
STRIP_WIDTH = 2000
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
#: Channel colours (RGB) for the curves of channel 0, 1, 2 (R, G, B).
CHANNEL_COLOURS = ((220, 50, 50), (40, 160, 60), (50, 90, 230))
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Style:
    """RGB colours of a plot: canvas background, grid lines, axis ink (ticks, box), text."""
    background: tuple
    grid: tuple
    ink: tuple
    text: tuple


DARK = Style(background=BACKGROUND, grid=(70, 70, 70), ink=(200, 200, 200), text=TEXT)
LIGHT = Style(background=(255, 255, 255), grid=(225, 225, 225), ink=(120, 120, 120),
              text=(0, 0, 0))


def panel_size(height, width, count, max_width=STRIP_WIDTH):
    """(height, width) of each downscaled panel: ``count`` panels and their gaps fit in
    ``max_width``; never upscaled."""
    panel_w = max(1, min(width, (max_width - GAP * (count - 1)) // count))
    return max(1, round(height * panel_w / width)), panel_w


def strip_size(height, width, count, max_width=STRIP_WIDTH):
    """(height, width) of the strip ``comparison_strip`` makes from ``count`` HxW panels."""
    ph, pw = panel_size(height, width, count, max_width)
    return LABEL_HEIGHT + ph, count * pw + GAP * (count - 1)


def labelled_panel(label, img, size):
    """One panel: a label bar above ``img`` resized (INTER_AREA) to ``size`` = (h, w)."""
    h, w = size
    small = cv2.resize(to_uint8(img), (w, h), interpolation=cv2.INTER_AREA)
    bar = np.full((LABEL_HEIGHT, w, 3), BACKGROUND, np.uint8)
    cv2.putText(bar, label, (6, LABEL_HEIGHT - 9), FONT, 0.6, TEXT, 1, cv2.LINE_AA)
    return np.concatenate([bar, small], axis=0)


def comparison_strip(panels, max_width=STRIP_WIDTH):
    """Panels side by side with labels above, at most ``max_width`` pixels wide in all.

    panels: list of (label, image), every image (H, W, 3) RGB of one size, uint8/uint16 codes
    or float [0, 1]. Returns uint8 (H', W', 3) RGB of ``strip_size(H, W, len(panels))``.
    """
    if not panels:
        raise ValueError('a comparison strip needs at least one panel')
    shape = panels[0][1].shape
    for label, img in panels:
        if img.shape != shape:
            raise ValueError(f'panel {label!r} is {img.shape} but {panels[0][0]!r} is {shape}')
    size = panel_size(shape[0], shape[1], len(panels), max_width)
    gap = np.full((LABEL_HEIGHT + size[0], GAP, 3), BACKGROUND, np.uint8)
    parts = []
    for label, img in panels:
        if parts:
            parts.append(gap)
        parts.append(labelled_panel(label, img, size))
    return np.concatenate(parts, axis=1)


def nice_ticks(low, high, count=5):
    """About ``count`` round tick values covering [low, high]."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def format_tick(value):
    return f'{value:g}' if abs(value) >= 1e-9 else '0'


def blank_canvas(size, style=DARK):
    """A uint8 (h, w, 3) RGB canvas of ``size`` = (h, w) in the style's background."""
    return np.full((*size, 3), style.background, np.uint8)


class Axes:
    """A plotting rectangle ``rect`` = (left, top, width, height) on a uint8 RGB canvas,
    mapping the data ranges ``x_range``, ``y_range`` = (low, high) to its pixels."""

    def __init__(self, canvas, rect, x_range, y_range, style=DARK):
        self.canvas, self.rect = canvas, rect
        self.x_range, self.y_range = x_range, y_range
        self.style = style

    def to_pixels(self, x, y):
        """Data coordinates (arrays) -> int32 (N, 2) pixel points."""
        left, top, width, height = self.rect
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        px = left + (np.asarray(x, np.float64) - x0) / (x1 - x0) * width
        py = top + height - (np.asarray(y, np.float64) - y0) / (y1 - y0) * height
        return np.stack([px, py], axis=1).round().astype(np.int32)

    def frame(self, title, x_label, y_label):
        """Box, ticks with values, axis labels and title."""
        left, top, width, height = self.rect
        grid, ink, text = self.style.grid, self.style.ink, self.style.text
        for x in nice_ticks(*self.x_range):
            px = self.to_pixels([x], [self.y_range[0]])[0][0]
            cv2.line(self.canvas, (px, top), (px, top + height), grid, 1)
            cv2.putText(self.canvas, format_tick(x), (px - 12, top + height + 18), FONT, 0.4,
                        ink, 1, cv2.LINE_AA)
        for y in nice_ticks(*self.y_range):
            py = self.to_pixels([self.x_range[0]], [y])[0][1]
            cv2.line(self.canvas, (left, py), (left + width, py), grid, 1)
            cv2.putText(self.canvas, format_tick(y), (left - 44, py + 4), FONT, 0.4, ink, 1,
                        cv2.LINE_AA)
        cv2.rectangle(self.canvas, (left, top), (left + width, top + height), ink, 1)
        cv2.putText(self.canvas, title, (left, top - 12), FONT, 0.55, text, 1, cv2.LINE_AA)
        cv2.putText(self.canvas, x_label, (left + width // 2 - 40, top + height + 40), FONT, 0.45,
                    ink, 1, cv2.LINE_AA)
        cv2.putText(self.canvas, y_label, (left + 6, top + 16), FONT, 0.45, ink, 1, cv2.LINE_AA)

    def legend(self, lines):
        """Text lines in the lower right corner of the plotting rectangle."""
        left, top, width, height = self.rect
        for i, line in enumerate(reversed(lines)):
            (text_w, _), _ = cv2.getTextSize(line, FONT, 0.45, 1)
            cv2.putText(self.canvas, line, (left + width - text_w - 8, top + height - 10 - 20 * i),
                        FONT, 0.45, self.style.text, 1, cv2.LINE_AA)

    def key(self, entries, origin):
        """A key of (label, colour, dashed) entries, one per row from ``origin`` = (x, y)
        pixels: a line sample (dashed or solid) and its label."""
        x, y = origin
        for row, (label, colour, dashed) in enumerate(entries):
            line_y = y + 22 * row
            segments = [(x, x + 7), (x + 15, x + 22)] if dashed else [(x, x + 25)]
            for start, end in segments:
                cv2.line(self.canvas, (start, line_y), (end, line_y), colour, 1 if dashed else 2)
            cv2.putText(self.canvas, label, (x + 30, line_y + 5), FONT, 0.45, self.style.text, 1,
                        cv2.LINE_AA)

    def _region(self):
        """The canvas view of the plotting rectangle and the pixel offset of its corner."""
        left, top, width, height = self.rect
        return (self.canvas[top:top + height + 1, left:left + width + 1],
                np.array([left, top], np.int32))

    def curve(self, x, y, colour, thickness=2):
        """A polyline through (x, y) clipped to the plotting rectangle."""
        region, corner = self._region()
        cv2.polylines(region, [self.to_pixels(x, y) - corner], False, colour, thickness,
                      cv2.LINE_AA)

    def band(self, x, low, high, colour, opacity=0.25):
        """The area between the curves (x, low) and (x, high), blended in at ``opacity``."""
        region, corner = self._region()
        x, low, high = (np.asarray(v, np.float64) for v in (x, low, high))
        outline = np.concatenate([self.to_pixels(x, high),
                                  self.to_pixels(x[::-1], low[::-1])]) - corner
        overlay = region.copy()
        cv2.fillPoly(overlay, [outline], colour, cv2.LINE_AA)
        cv2.addWeighted(overlay, opacity, region, 1.0 - opacity, 0, dst=region)

    def level(self, y, colour, dash=6):
        """A horizontal dashed line at data value ``y`` across the plotting rectangle."""
        left, _, width, _ = self.rect
        py = int(self.to_pixels([self.x_range[0]], [y])[0][1])
        for x in range(left, left + width, 2 * dash):
            cv2.line(self.canvas, (x, py), (min(x + dash, left + width), py), colour, 1)


def sample_codes(levels, count=512):
    """At most ``count`` code values spanning 0..levels-1 (16-bit tables are subsampled)."""
    return np.unique(np.linspace(0, levels - 1, min(levels, count)).round().astype(np.int64))


def curve_plot(mapper, size=(480, 1100)):
    """The CRF and the IMFs of a ``Y0Mapper`` as a uint8 (h, w, 3) RGB image, ``size`` = (h, w).

    Left: g_c(z) = ln F_c^-1(z) against the normalised code z / max_code, per channel.
    Right: L(z) / max_code against z / max_code for bright -> target (thick) and dark -> target
    (thin) per channel, with the identity in grey.
    """
    h, w = size
    canvas = blank_canvas(size)
    crf = mapper.crf
    codes = sample_codes(crf.levels)
    z = codes / crf.max_code
    margin_l, margin_t, margin_b, gap = 60, 40, 60, 70
    panel_w = (w - 2 * margin_l - gap) // 2
    rect_h = h - margin_t - margin_b
    g = crf.g[codes]
    finite = g[np.isfinite(g)]
    g_range = (math.floor(finite.min()), math.ceil(finite.max()))
    left = Axes(canvas, (margin_l, margin_t, panel_w, rect_h), (0.0, 1.0), g_range)
    left.frame(f'CRF {crf.name}: g(z) = ln F^-1(z)', 'code z / max', 'ln exposure')
    right = Axes(canvas, (margin_l + panel_w + gap, margin_t, panel_w, rect_h), (0.0, 1.0),
                 (0.0, 1.0))
    right.frame(f'IMF to t3 = {mapper.t_target:.4g} s', 'input code / max', 'output code / max')
    right.legend([f'thick: from bright, {mapper.t_bright:.4g} s',
                  f'thin: from dark, {mapper.t_dark:.4g} s'])
    right.curve([0.0, 1.0], [0.0, 1.0], (110, 110, 110), 1)
    for c, colour in enumerate(CHANNEL_COLOURS):
        left.curve(z, g[:, c], colour)
        right.curve(z, mapper.lut_bright[codes, c] / crf.max_code, colour, 3)
        right.curve(z, mapper.lut_dark[codes, c] / crf.max_code, colour, 1)
    return canvas


def curves_path(strip_path):
    """Where the curve plot goes beside a strip: ``NAME_curves.png`` next to ``NAME.ext``."""
    return strip_path.with_name(f'{strip_path.stem}_curves.png')


def motion_panel(pair):
    """('motion', RGB codes) strip panel: the reference frame darkened, the motion mask and
    the area the moved frame does not cover in red; None for a pair that did not move."""
    mask = None if pair.motion is None else pair.motion.mask
    moved = pair.alignment is not None and pair.alignment.moved
    if not moved and (mask is None or not mask.any()):
        return None
    height, width = pair.shape[:2]
    red = np.zeros((height, width), np.float32) if mask is None else cv2.resize(
        mask, (width, height), interpolation=cv2.INTER_LINEAR)
    if moved:
        red = np.maximum(red, ~np.asarray(pair.valid))
    base = (pair.dark if pair.reference == 'dark' else pair.bright).astype(np.float32)
    peak = np.float32(np.iinfo(pair.dtype).max)
    base *= np.float32(0.6)
    base[..., 0] += np.float32(0.4) * peak * red
    return 'motion', np.clip(np.rint(base), 0, peak).astype(pair.dtype)


def save_figures(path, panels, mapper=None, max_width=STRIP_WIDTH):
    """Write the strip of ``panels`` to ``path`` and, with a mapper, its curve plot to
    ``curves_path(path)`` (both PNG, atomically). Returns the list of paths written."""
    path = Path(path)
    write_image(path, comparison_strip(panels, max_width))
    written = [path]
    if mapper is not None:
        write_image(curves_path(path), curve_plot(mapper))
        written.append(curves_path(path))
    return written
