"""The "virtual image" of the 2018 two-image exposure fusion paper's public MATLAB code.

A comparison baseline (docs/design.md, "The 2018 virtual image"): a medium exposure made from a
dark and a bright 8-bit image without any camera response, per channel:
  L_db, L_bd  IMFs dark->bright and bright->dark by cumulative-histogram matching (for code i
              of the source, the first code j of the reference minimising |H_ref(j) - H_src(i)|
              over 256-bin cumulative counts);
  I_s = sqrt(Z_d * L_db(Z_d)),  I_h = sqrt(Z_b * L_bd(Z_b))   geometric means of each input
              and its mapping to the other exposure;
  V   = round((W_d I_s + W_b I_h) / (W_d + W_b)) as uint8, with the weights of docs/design.md
        section 3 at xi_L = 10, xi_U = 250: W_d on the dark input, W_b on the bright input.
The MATLAB code looks its tables up with the code value itself as the (1-based) index: a code
v in 1..255 becomes table(v), i.e. L(v) = L0(v - 1) + 1 with L0 the 0-based mapping, and code
0 keeps its value. This is reproduced, since it is what the published comparison figures used.

Where both weights vanish (dark input below xi_L and bright input at or above xi_U at once) the
MATLAB code divides 0 by 0; here V takes whichever of I_s, I_h is nearer mid-grey 127.5 (I_s
on ties), the same fallback as y0 (docs/design.md, "Reliability weights and y0").
"""
import numpy as np

from expinterp_plugin.exposure.weights import bright_weight, dark_weight

XI_L = 10
XI_U = 250
_MID_GREY = 127.5


def cumulative_histogram(channel):
    """256-bin cumulative pixel counts of a uint8 array (int64, last entry = pixel count)."""
    return np.cumsum(np.bincount(channel.ravel(), minlength=256))


def histogram_matching_imf(src, ref):
    """0-based IMF table from ``src``'s exposure to ``ref``'s, by cumulative histograms.

    src, ref: uint8 arrays of the same size (one channel). Returns int64 (256,): for each code
    i of src, the first code j of ref minimising |H_ref(j) - H_src(i)|.
    """
    h_src, h_ref = cumulative_histogram(src), cumulative_histogram(ref)
    return np.argmin(np.abs(h_ref[None, :] - h_src[:, None]), axis=1)


def one_based_lookup(table, codes):
    """The MATLAB code's lookup: codes v >= 1 -> table[v - 1] + 1; code 0 stays 0 (float64)."""
    shifted = np.concatenate(([0.0], np.asarray(table[:-1], np.float64) + 1.0))
    return shifted[codes]


def virtual_image_2018(dark, bright):
    """The 2018 paper's virtual medium exposure of a dark and a bright image.

    dark, bright: RGB uint8 HxWx3 arrays of the same scene (any exposure ratio; dark is the
    shorter exposure). Returns RGB uint8 HxWx3, rounded to nearest (halves away from zero,
    as MATLAB's uint8 cast).
    """
    dark, bright = np.asarray(dark), np.asarray(bright)
    for name, img in (('dark', dark), ('bright', bright)):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{name} image: expected RGB uint8 HxWx3, got {img.dtype} {img.shape}')
    if dark.shape != bright.shape:
        raise ValueError(f'dark image is {dark.shape} but bright image is {bright.shape}')
    out = np.empty_like(dark)
    for c in range(3):
        z_d, z_b = dark[..., c], bright[..., c]
        dark_to_bright = one_based_lookup(histogram_matching_imf(z_d, z_b), z_d)
        bright_to_dark = one_based_lookup(histogram_matching_imf(z_b, z_d), z_b)
        i_s = np.sqrt(z_d * dark_to_bright)
        i_h = np.sqrt(z_b * bright_to_dark)
        w_d, w_b = dark_weight(z_d, xi_l=XI_L), bright_weight(z_b, xi_u=XI_U)
        total = w_d + w_b
        fallback = np.where(np.abs(i_s - _MID_GREY) <= np.abs(i_h - _MID_GREY), i_s, i_h)
        blended = np.divide(w_d * i_s + w_b * i_h, total, out=fallback, where=total > 0)
        out[..., c] = np.clip(np.floor(blended + 0.5), 0, 255).astype(np.uint8)
    return out
