"""Smooth-step reliability weights of the two inputs (docs/design.md, "Reliability weights and y0").

The bright input x1 is unreliable where it saturates, the dark input x2 where it is near black.
Thresholds are given on the 8-bit scale and multiplied by 257 for 16-bit codes. The paper's eqs.
(7)/(8) attach the weights to the inputs the other way round; they are only consistent as here.
"""
import numpy as np

BRIGHT_KNEE = 200
DARK_KNEE = 55


def smooth_falloff(h):
    """s(h) = 1 - 3h^2 + 2h^3 on h clipped to [0, 1]: 1 at h = 0, 0 at h = 1, flat at both."""
    h = np.clip(h, 0.0, 1.0)
    return 1.0 - 3.0 * h * h + 2.0 * h * h * h


def bright_weight(z, xi_u=250, code_scale=1.0):
    """W1 on the bright input: 1 below 200, smooth fall to 0 at xi_u, 0 above (float64)."""
    knee, top = BRIGHT_KNEE * code_scale, xi_u * code_scale
    z = np.asarray(z, dtype=np.float64)
    if top <= knee:
        return (z < knee).astype(np.float64)
    return np.where(z < top, smooth_falloff((z - knee) / (top - knee)), 0.0)


def dark_weight(z, xi_l=10, code_scale=1.0):
    """W2 on the dark input: 0 below xi_l, smooth rise to 1 at 55, 1 above (float64)."""
    knee, bottom = DARK_KNEE * code_scale, xi_l * code_scale
    z = np.asarray(z, dtype=np.float64)
    if bottom >= knee:
        return (z >= knee).astype(np.float64)
    return np.where(z < bottom, 0.0, smooth_falloff((knee - z) / (knee - bottom)))


def validate_thresholds(xi_l, xi_u):
    if not 0 <= xi_l <= DARK_KNEE:
        raise ValueError(f'xi_L must lie in [0, {DARK_KNEE}], got {xi_l}')
    if not BRIGHT_KNEE <= xi_u <= 255:
        raise ValueError(f'xi_U must lie in [{BRIGHT_KNEE}, 255], got {xi_u}')
