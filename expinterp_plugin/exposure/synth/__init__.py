"""Procedural HDR scenes and simulated exposure brackets: the project's built-in data set.

Numpy + OpenCV only (no torch). Everything is deterministic for a seed.

Pipeline, per scene:

1. :func:`render_scene` builds linear scene radiance, float32 HxWx3 (RGB), scaled so that the
   median sample is 1: a sky-like gradient or a textured wall, a textured ground, occluding
   objects (polygons, ellipses, rectangles) with their own textures, shading ramps and cast
   shadows, a large soft-edged shade zone (deep shadows, a few percent of the lit level),
   specular glints and small light sources hundreds of times brighter than the mean.
2. :func:`sample_camera` draws a camera response from a family of smooth, strictly increasing
   curves (a Rec.709/sRGB-style power law with a linear toe, blended with a normalised logistic
   "film" S-curve; a slightly different exponent per channel).
3. :func:`choose_mid_exposure` picks the mid exposure time so that the mid frame's median code
   lands on a target (118 by default); the dark and bright times are that time divided and
   multiplied by 2^(EV/2), so t_mid = sqrt(t_low t_high).
4. :func:`render_bracket` simulates the sensor for each time: signal = radiance * t in units of
   full well, Gaussian-approximated shot noise (variance ``shot_noise * signal``) plus read noise,
   clipping to [0, 1], the camera response, rounding to 8- or 16-bit codes.
5. :func:`crf_table` tabulates the true response as g(z) = ln F^-1(z / z_max), normalised so
   that g(128) = 0 (8-bit; g(128 * 257) = 0 for 16-bit), i.e. the convention of Debevec & Malik,
   "Recovering High Dynamic Range Radiance Maps from Photographs", SIGGRAPH 1997.

:func:`write_synthetic_dataset` writes the triplet layout (docs/design.md, "Data layout").

Modules: ``camera`` (response family, CRF tables), ``textures``, ``scenes`` (radiance),
``capture`` (exposure times, sensor), ``dataset`` (files on disk), ``handheld`` (camera shake
and moving objects, which ``expinterp simulate`` renders on request).
"""
from expinterp_plugin.exposure.brackets import FRAMES
from expinterp_plugin.exposure.synth.camera import (CRF_MIN_STEP, CameraParams, camera_response,
                                                    crf_table, inverse_camera_response,
                                                    sample_camera)
from expinterp_plugin.exposure.synth.capture import (BLACK_CODE_8BIT, DEFAULT_EV,
                                                     DEFAULT_READ_NOISE, DEFAULT_SHOT_NOISE,
                                                     DEFAULT_TARGET_MEDIAN, bracket_stats,
                                                     bracket_times, choose_mid_exposure,
                                                     render_bracket)
from expinterp_plugin.exposure.synth.dataset import (CAMERA_STREAM, DEFAULT_SCENES,
                                                     DEFAULT_VAL_SCENES, SPLITS, scene_name,
                                                     summary_json, write_synthetic_dataset)
from expinterp_plugin.exposure.synth.scenes import DEFAULT_SIZE, render_scene
from expinterp_plugin.exposure.synth.textures import value_noise

__all__ = [
    'FRAMES', 'CRF_MIN_STEP', 'CameraParams', 'camera_response', 'crf_table',
    'inverse_camera_response', 'sample_camera', 'BLACK_CODE_8BIT', 'DEFAULT_EV',
    'DEFAULT_READ_NOISE', 'DEFAULT_SHOT_NOISE', 'DEFAULT_TARGET_MEDIAN', 'bracket_stats',
    'bracket_times', 'choose_mid_exposure', 'render_bracket', 'CAMERA_STREAM', 'DEFAULT_SCENES',
    'DEFAULT_VAL_SCENES', 'SPLITS', 'scene_name', 'summary_json', 'write_synthetic_dataset',
    'DEFAULT_SIZE', 'render_scene', 'value_noise',
]
