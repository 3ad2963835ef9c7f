"""CurveRefiner: starts at y0, evaluates its tone curve exactly, learns a global curve misfit."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from basicsr.archs import build_network
from expinterp_plugin.archs.curverefiner_arch import CurveRefiner, piecewise_linear


def test_registered_and_untrained_output_is_zero_for_any_size():
    net = build_network({'type': 'CurveRefiner', 'in_channels': 9})
    out = net(torch.rand(2, 9, 37, 53))
    assert out.shape == (2, 3, 37, 53) and torch.count_nonzero(out) == 0
    assert sum(p.numel() for p in net.parameters()) < 40_000


@given(st.integers(2, 12), st.integers(0, 2 ** 16))
@settings(max_examples=25, deadline=None)
def test_piecewise_linear_matches_numpy_interp(knots, seed):
    gen = torch.Generator().manual_seed(seed)
    values = torch.rand(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    curve = torch.randn(2, 3, knots, generator=gen, dtype=torch.float64)
    out = piecewise_linear(values, curve)
    grid = np.linspace(0, 1, knots)
    for n in range(2):
        for c in range(3):
            expected = np.interp(values[n, c].numpy(), grid, curve[n, c].numpy())
            np.testing.assert_allclose(out[n, c].numpy(), expected, atol=1e-12)


def test_rejects_too_few_local_convs_and_other_outputs():
    with pytest.raises(ValueError, match='local_convs'):
        CurveRefiner(local_convs=1)
    with pytest.raises(ValueError, match='out_channels'):
        CurveRefiner(out_channels=1)


def test_learns_a_global_curve_misfit():
    """y0 = gt ** 1.3 (a response misfit): a few hundred Adam steps remove most of it."""
    torch.manual_seed(0)
    net = CurveRefiner(in_channels=3, n_feat=8, n_global=16, global_size=16, knots=8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gt = torch.rand(4, 3, 32, 32)
    y0 = gt ** 1.3
    before = (y0 - gt).abs().mean().item()
    for _ in range(300):
        opt.zero_grad()
        loss = (y0 + net(y0) - gt).abs().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * before
