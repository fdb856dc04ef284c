"""Simulator oracles: what a "measurement" returns when the experiment is a simulation.

:class:`WindowOracle` holds one full-resolution simulation of an example PDE
(:mod:`physforge.datasets.examples`) and answers a measurement — a window of sensors over a
stretch of space and time, centred on the design point — with that window of the field plus
fresh sensor noise. Windows stay on the simulation grid, so each measurement is a small
uniform grid that the weak form accepts; measurements are canonical datasets, ready to ingest.

Noise is a fixed sensor noise: ``noise × std`` of the whole clean field, drawn anew for each
measurement (so the same window measured twice gives two independent records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import xarray as xr

from physforge.datasets.canonical import canonicalize
from physforge.datasets.examples import EXAMPLES
from physforge.discovery.design.candidates import DesignSpace
from physforge.discovery.design.solver import integrate
from physforge.discovery.terms import parse_equation
from physforge.errors import ConfigError

__all__ = ["Oracle", "WindowOracle", "parse_equation"]


class Oracle(Protocol):
    """Where new data come from."""

    def design_space(self) -> DesignSpace: ...

    def measure(self, points: np.ndarray) -> list[xr.Dataset]: ...


@dataclass
class WindowOracle:
    """Windows of ``window`` grid points per dimension (``{"t": 41, "x": 32}``) of a clean
    simulation, with sensor noise ``noise × std(field)``."""

    full: xr.Dataset
    window: dict[str, int]
    noise: float = 0.05
    seed: int = 0
    name: str = "simulation"
    _count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for d, n in self.window.items():
            if d not in self.full.dims:
                raise ConfigError(f"window names {d!r}; the simulation has {list(self.full.dims)}")
            if not 2 <= n <= self.full.sizes[d]:
                raise ConfigError(
                    f"window.{d} = {n} points; the simulation has {self.full.sizes[d]} along {d!r}"
                )
        self.dims = list(self.full.dims)
        self.sigma = {f: self.noise * float(self.full[f].std()) for f in self.full.data_vars}

    @classmethod
    def from_example(
        cls,
        name: str,
        window: dict[str, int],
        noise: float = 0.05,
        seed: int = 0,
        resimulate: bool = False,
        **kwargs,
    ) -> WindowOracle:
        """The example generator's field; with ``resimulate``, its equation integrated again
        from its initial condition by :func:`~physforge.discovery.design.solver.integrate`
        at full resolution (ETDRK4 with complex φ-functions, step ≤ 0.01) — the reference
        for dispersive equations such as KdV."""
        if name not in EXAMPLES:
            raise ConfigError(f"unknown example {name!r}; choose one of {sorted(EXAMPLES)}")
        full = EXAMPLES[name](**kwargs)
        if resimulate:
            t = list(full.dims)[0]
            field = integrate(
                parse_equation(full.attrs["equation"]),
                full.isel({t: 0}).drop_vars(t),
                full[t].values,
                max_points=max(full.sizes[d] for d in full.dims if d != t),
                max_step=0.01,
            )
            field.attrs = dict(full.attrs, resimulated="physforge.discovery.design.solver")
            full = field.rename({"t": t}) if t != "t" else field
        return cls(full, dict(window), noise, seed, name)

    @property
    def truth(self) -> dict[str, dict[str, float]]:
        return parse_equation(self.full.attrs["equation"])

    @property
    def noise_sigma(self) -> float:
        return max(self.sigma.values())

    def _step(self, d: str) -> float:
        c = self.full[d].values
        return float(c[1] - c[0])

    def design_space(
        self, bounds: dict[str, tuple[float, float]] | None = None, forbidden: Sequence = ()
    ) -> DesignSpace:
        """Window centres over the simulation's domain (or ``bounds`` inside it)."""
        domain = self.domain()
        bounds = dict(bounds or domain)
        extent = {
            d: (self.window.get(d, self.full.sizes[d]) - 1) * self._step(d) for d in self.dims
        }
        return DesignSpace(bounds, extent, list(forbidden), snap=self.snap)

    def domain(self) -> dict[str, tuple[float, float]]:
        return {
            d: (float(self.full[d].values[0]), float(self.full[d].values[-1])) for d in self.dims
        }

    def _start(self, points: np.ndarray) -> np.ndarray:
        """First grid index of the window centred nearest to each point (rows × dims)."""
        idx = np.empty(points.shape, dtype=int)
        for j, d in enumerate(self.dims):
            n, w = self.full.sizes[d], self.window.get(d, self.full.sizes[d])
            c0 = float(self.full[d].values[0])
            idx[:, j] = np.clip(
                np.round((points[:, j] - c0) / self._step(d) - (w - 1) / 2), 0, n - w
            ).astype(int)
        return idx

    def snap(self, points: np.ndarray) -> np.ndarray:
        """Centres of grid-aligned windows."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        start = self._start(points)
        out = np.empty_like(points)
        for j, d in enumerate(self.dims):
            w = self.window.get(d, self.full.sizes[d])
            out[:, j] = self.full[d].values[0] + (start[:, j] + (w - 1) / 2) * self._step(d)
        return out

    def measure(self, points: np.ndarray) -> list[xr.Dataset]:
        """The windows centred at ``points``, each a canonical dataset with fresh noise."""
        out = []
        for row in self._start(np.atleast_2d(np.asarray(points, dtype=float))):
            sel = {
                d: slice(int(i), int(i) + self.window.get(d, self.full.sizes[d]))
                for d, i in zip(self.dims, row)
            }
            tile = self.full.isel(sel).copy()
            rng = np.random.default_rng([self.seed, self._count])
            self._count += 1
            for f, s in self.sigma.items():
                tile[f] = tile[f] + s * rng.standard_normal(tile[f].shape)
            # a window is not periodic, whatever the simulation was (the weak form must not wrap)
            tile.attrs = {"source": f"oracle {self.name}", "periodic": "none", "noise": self.noise}
            label = ",".join(f"{d}={float(tile[d].values.mean()):.4g}" for d in self.dims)
            out.append(canonicalize(tile, f"oracle:{self.name}[{label}]"))
        return out

    def initial_state(self) -> xr.Dataset:
        """The field at the first time: a simulator's initial condition is the experimenter's
        own input, so it is known without noise."""
        t = self.dims[0]
        return self.full.isel({t: 0}).drop_vars(t)

    def times(self) -> np.ndarray:
        return self.full[self.dims[0]].values
