"""Exposure fusion (T. Mertens, J. Kautz, F. Van Reeth, "Exposure fusion", Pacific Graphics
2007) through OpenCV's ``MergeMertens``, with the paper's weights and explicit conventions.

OpenCV's implementation needs three corrections to behave as the paper and this package do:
- its default well-exposedness exponent is 0; the paper uses contrast = saturation =
  well-exposedness = 1, as here;
- it scales every input by 1/255, whatever its type: uint16 input would be read as 0..257,
  so uint16 inputs are handed over as float32 on the 0..255 scale (uint8 as they are);
- it computes the contrast measure on ``cvtColor(COLOR_RGB2GRAY)``, i.e. channel 0 is red:
  RGB arrays (this package's convention) are passed as they are, never flipped to BGR.
Its float32 result lies roughly in [0, 1] and may over- or undershoot (Laplacian pyramid
blending); it is clipped to [0, 1] and rounded to the input's dtype.
"""
import cv2
import numpy as np

from expinterp_plugin.exposure.io import to_dtype

MERTENS_WEIGHTS = {'contrast_weight': 1.0, 'saturation_weight': 1.0, 'exposure_weight': 1.0}


def _validate(images):
    """Check the exposure list; return it as a list of arrays."""
    images = [np.asarray(img) for img in images]
    if len(images) < 2:
        raise ValueError(f'exposure fusion needs at least 2 images, got {len(images)}')
    first = images[0]
    if first.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'image 0: dtype {first.dtype} is not supported (need uint8 or uint16)')
    if first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f'image 0: expected an RGB HxWx3 array, got shape {first.shape}')
    for i, img in enumerate(images[1:], 1):
        if img.shape != first.shape:
            raise ValueError(f'image {i} has shape {img.shape} but image 0 has {first.shape}')
        if img.dtype != first.dtype:
            raise ValueError(f'image {i} has dtype {img.dtype} but image 0 has {first.dtype}')
    return images


def mertens_fuse_float(images):
    """Mertens fusion of RGB exposures -> float32 HxWx3 RGB, unclipped (roughly [0, 1]).

    images: list of >= 2 RGB HxWx3 arrays, all uint8 or all uint16, same shape, any order.
    """
    images = _validate(images)
    if images[0].dtype != np.uint8:
        # uint8 goes in as it is: OpenCV converts one image at a time, where float32 copies
        # made here would add 12 bytes per pixel per exposure to the peak (1.1 GB at 24 MP).
        to_255 = np.float32(255.0 / np.iinfo(images[0].dtype).max)
        images = [img.astype(np.float32) * to_255 for img in images]
    return cv2.createMergeMertens(**MERTENS_WEIGHTS).process(images)


def mertens_fuse(images):
    """Mertens exposure fusion of RGB exposures, in the inputs' dtype.

    images: list of >= 2 RGB HxWx3 arrays (channel order R, G, B), all uint8 or all uint16,
    same shape, any exposure order. Returns the fused RGB HxWx3 image with the same dtype,
    rounded to nearest after clipping to the full code range. ValueError names the problem.
    """
    images = _validate(images)
    fused = mertens_fuse_float(images)
    return to_dtype(np.clip(fused, 0.0, 1.0), images[0].dtype)
