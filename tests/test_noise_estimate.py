"""The noise estimate behind the derivative choice, the χ² gate and the noise-unbiased powers."""

import numpy as np
import pytest

from physforge.discovery.noise import estimate_noise


def _pattern(nt: int = 80, nx: int = 120, per_wavelength: int = 8) -> np.ndarray:
    """A clean travelling pattern, coarse in space (``per_wavelength`` samples), fine in time."""
    t = np.linspace(0.0, 2.0, nt)[:, None]
    x = np.arange(nx)[None, :] * (2 * np.pi / per_wavelength)
    return np.cos(x - 0.5 * t) * (1.0 + 0.3 * t)


def test_a_coarsely_sampled_clean_pattern_is_not_read_as_noise():
    u = _pattern()
    assert estimate_noise(u, axis=1) > 0.1  # along x alone the pattern itself reads as noise
    assert estimate_noise(u, axis=None) < 1e-3  # time resolves it: the bound is tight


@pytest.mark.parametrize("level", [0.01, 0.1, 0.5])
def test_white_noise_is_measured_along_every_axis(level):
    rng = np.random.default_rng(7)
    u = _pattern(per_wavelength=40)
    noisy = u + level * float(np.std(u)) * rng.standard_normal(u.shape)
    est = estimate_noise(noisy, axis=None)
    assert est == pytest.approx(level / np.sqrt(1 + level**2), rel=0.15)
