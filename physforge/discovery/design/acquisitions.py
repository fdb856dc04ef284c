"""Acquisitions: how much a candidate measurement is worth, one protocol chosen by name.

Every acquisition is shaped like an estimator: parameters in ``__init__``, ``fit(context)``
returns ``self`` with what it learned in attributes ending in ``_``, then
``score(candidates)`` gives one value per candidate centre (higher is better) and
``expected_gain(candidates)`` the expected information gain in nats. The registry
:data:`ACQUISITIONS` maps the names users write in config to the classes:

``uncertainty``
    Surrogate spread: the ensemble's standard deviation over the window. Any object with
    ``predict(points) -> (mean, std)`` serves (``physforge.pinn.ensemble.SurrogateEnsemble``);
    without one, :class:`BootstrapSurrogate` — a cheap bagged random-feature regression of the
    measurements — stands in.
``discrimination``
    Model discrimination (Box & Hill 1967): the top-ranked candidate equations, and the best
    one with each term dropped in turn, are integrated forward from the current state
    (:func:`physforge.discovery.design.solver.integrate`); a window is worth the information it
    carries about which of them is right, ``Σ_pairs w_a w_b ½ log(1 + D²/σ²)`` for their
    RMS disagreement ``D`` there and the sensor noise ``σ``; the weights ``w`` are equal, or
    with ``weight_by_fit`` follow how well each forecast matches the windows measured so far.
    With ``signal_gate`` (default) a window counts only as far as every rival forecasts
    signal above the noise there: a window of pure noise degrades weak-form regression.
``gp-eig``
    Bayesian optimisation with a Gaussian process over the candidate space: the GP models the
    measured field over (t, x, …); a window is worth its expected information gain
    ``½ log det(I + Σ/σ²)`` for the GP's posterior covariance ``Σ`` over the window (for one
    point, ``½ log(1 + σ_f²/σ²)``). Batches use the kriging believer: a chosen window joins the
    data at the GP mean, so the next pick looks elsewhere. scikit-learn's
    ``GaussianProcessRegressor`` is used: already a dependency (no new package), mature
    kernels with ARD length scales and a fitted noise level, exact and fast on CPU at the few
    hundred points a window design needs (GPyTorch or BoTorch would add torch-side machinery
    for no gain at this size).
``random``
    Uniform random values: the baseline that active designs are measured against.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import xarray as xr

from physforge.discovery.design.candidates import DesignSpace
from physforge.discovery.design.solver import integrate, rates
from physforge.errors import ConfigError

__all__ = [
    "Acquisition",
    "ACQUISITIONS",
    "DesignContext",
    "Surrogate",
    "BootstrapSurrogate",
    "SurrogateUncertainty",
    "ModelDiscrimination",
    "GaussianProcessEIG",
    "EquationInformation",
    "RandomScores",
    "get_acquisition",
    "rival_models",
]


class Surrogate(Protocol):
    """A field model with a spread: ``SurrogateEnsemble`` or :class:`BootstrapSurrogate`."""

    def predict(
        self, points: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]: ...


class Acquisition(Protocol):
    """The value of candidate measurements (rows × design dims); higher is better."""

    def fit(self, context: DesignContext) -> Acquisition: ...

    def score(self, candidates: np.ndarray) -> np.ndarray: ...

    def expected_gain(self, candidates: np.ndarray) -> np.ndarray: ...

    def separates(self, candidates: np.ndarray) -> list[str]: ...


@dataclass
class DesignContext:
    """What an acquisition may look at: the design space, the data so far, the ranked
    equations, the state to integrate from, the sensor noise and a surrogate."""

    space: DesignSpace
    measurements: list[xr.Dataset] = field(default_factory=list)
    equations: list[dict] = field(default_factory=list)
    state: xr.Dataset | None = None
    times: np.ndarray | None = None
    noise_sigma: float | None = None
    surrogate: Surrogate | None = None

    def sigma(self) -> float:
        """The sensor noise: given, else estimated from the measurements' second differences."""
        if self.noise_sigma:
            return float(self.noise_sigma)
        from physforge.discovery.noise import estimate_noise

        est = [
            estimate_noise(m[f].values, axis=-1) * float(m[f].std())
            for m in self.measurements
            for f in m.data_vars
        ]
        return float(np.median(est)) if est and np.median(est) > 0 else 1e-3


class _Base:
    """Defaults shared by the acquisitions: gain from the value, nothing to separate."""

    def score(self, candidates: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def expected_gain(self, candidates: np.ndarray) -> np.ndarray:
        return np.maximum(self.score(candidates), 0.0)

    def separates(self, candidates: np.ndarray) -> list[str]:
        return [""] * len(np.atleast_2d(candidates))

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


# --- surrogate uncertainty --------------------------------------------------------------------
@dataclass
class BootstrapSurrogate:
    """A cheap stand-in for a PINN ensemble: ``members`` ridge regressions on random Fourier
    features, each fitted to a bootstrap resample of the measured points on top of its own
    random prior function (randomised priors, Osband et al. 2018): near the data the members
    agree, away from it each falls back to its prior, so the spread grows where data are
    thin — which bagging alone does not do (all members shrink to zero together)."""

    members: int = 8
    features: int = 200
    length: float = 0.15  # kernel length, as a fraction of each bound's range
    alpha: float = 1e-2
    max_points: int = 4000
    seed: int = 0

    def fit(self, measurements: list[xr.Dataset], space: DesignSpace) -> BootstrapSurrogate:
        if not measurements:
            raise ConfigError("the uncertainty acquisition needs at least one measurement")
        self.dims_ = space.dims
        self.lo_ = np.array([space.bounds[d][0] for d in self.dims_])
        self.span_ = np.array([space.bounds[d][1] - space.bounds[d][0] for d in self.dims_])
        self.fields_ = sorted(measurements[0].data_vars)
        xs, ys = [], []
        for m in measurements:
            mesh = np.meshgrid(*[m[d].values for d in self.dims_], indexing="ij")
            xs.append(np.stack([a.ravel() for a in mesh], axis=1))
            ys.append(
                np.stack([m[f].transpose(*self.dims_).values.ravel() for f in self.fields_], axis=1)
            )
        x, y = np.concatenate(xs), np.concatenate(ys)
        rng = np.random.default_rng(self.seed)
        if len(x) > self.max_points:
            keep = rng.choice(len(x), self.max_points, replace=False)
            x, y = x[keep], y[keep]
        z = (x - self.lo_) / self.span_
        self.w_ = rng.standard_normal((len(self.dims_), self.features)) / self.length
        self.b_ = rng.uniform(0, 2 * np.pi, self.features)
        self.coef_ = []
        scale = np.std(y, axis=0) + 1e-12
        for _ in range(self.members):
            prior = rng.standard_normal((self.features, y.shape[1])) * scale
            idx = rng.integers(0, len(z), len(z))
            phi = self._phi(z[idx])
            a = phi.T @ phi + self.alpha * len(idx) * np.eye(self.features)
            self.coef_.append(prior + np.linalg.solve(a, phi.T @ (y[idx] - phi @ prior)))
        return self

    def _phi(self, z: np.ndarray) -> np.ndarray:
        return np.sqrt(2.0 / self.features) * np.cos(z @ self.w_ + self.b_)

    def predict(self, points: Mapping[str, np.ndarray]):
        shape = np.shape(points[self.dims_[0]])
        z = (np.stack([np.ravel(points[d]) for d in self.dims_], axis=1) - self.lo_) / self.span_
        phi = self._phi(z)
        out = np.stack([phi @ c for c in self.coef_])  # members × points × fields
        mean, std = out.mean(axis=0), out.std(axis=0)
        return (
            {f: mean[:, j].reshape(shape) for j, f in enumerate(self.fields_)},
            {f: std[:, j].reshape(shape) for j, f in enumerate(self.fields_)},
        )


@dataclass
class SurrogateUncertainty(_Base):
    """Mean ensemble variance over the window (summed over fields); value = RMS spread."""

    n_probe: int = 7
    seed: int = 0

    def fit(self, context: DesignContext) -> SurrogateUncertainty:
        self.space_ = context.space
        self.sigma_ = context.sigma()
        self.surrogate_ = context.surrogate or BootstrapSurrogate(seed=self.seed).fit(
            context.measurements, context.space
        )
        return self

    def _variance(self, candidates: np.ndarray) -> np.ndarray:
        out = []
        for c in np.atleast_2d(candidates):
            _, std = self.surrogate_.predict(self.space_.probes(c, self.n_probe))
            out.append(float(np.mean(sum(s**2 for s in std.values()))))
        return np.array(out)

    def score(self, candidates: np.ndarray) -> np.ndarray:
        return np.sqrt(self._variance(candidates))

    def expected_gain(self, candidates: np.ndarray) -> np.ndarray:
        return 0.5 * np.log1p(self._variance(candidates) / self.sigma_**2)


# --- model discrimination ---------------------------------------------------------------------
def _model_key(model: Mapping[str, Mapping[str, float]]) -> tuple:
    return tuple(
        sorted(
            (lhs, tuple(sorted((k, float(f"{v:.6g}")) for k, v in t.items())))
            for lhs, t in model.items()
        )
    )


def rival_models(
    equations: list[dict], top: int = 3, drop_one: bool = True
) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Labelled rival models: the ``top`` ranked ones (one equation per lhs each), the best
    with each lhs swapped for its ``alternatives`` (supports that fit the data as well), and
    the best with each of its terms dropped in turn — the question its inclusion
    probabilities ask."""
    by_rank: dict[int, dict[str, dict[str, float]]] = {}
    for i, eq in enumerate(equations):
        by_rank.setdefault(int(eq.get("rank", i + 1)), {})[eq["lhs"]] = dict(eq["terms"])
    models: list[tuple[str, dict]] = []
    seen: set[tuple] = set()

    def add(label: str, model: dict) -> None:
        key = _model_key(model)
        if key not in seen and any(model.values()):
            seen.add(key)
            models.append((label, model))

    for rank in sorted(by_rank)[:top]:
        add(f"rank {rank}", by_rank[rank])
        if rank == min(by_rank):
            # supports the data cannot tell from rank 1 (``alternatives``): the first to separate
            for eq in equations:
                if int(eq.get("rank", 1)) == rank:
                    for alt in eq.get("alternatives", []):
                        add(
                            f"rank 1 with {eq['lhs']} = {alt['rhs']}",
                            {**by_rank[rank], eq["lhs"]: dict(alt["terms"])},
                        )
    if drop_one and by_rank:
        best = by_rank[min(by_rank)]
        for lhs, terms in best.items():
            for term in terms:
                if len(terms) > 1:
                    add(
                        f"rank 1 without {term}",
                        {**best, lhs: {k: v for k, v in terms.items() if k != term}},
                    )
    return models


@dataclass
class ModelDiscrimination(_Base):
    """Expected information to tell the rival models apart in each window.

    ``target="rate"`` (default) compares what the rivals say the time derivative is on one
    and the same field: each ranked model in turn is taken as the truth and integrated
    forward from the state, and every rival's right-hand side is evaluated on that forecast
    (:func:`~physforge.discovery.design.solver.rates`). Over a window of duration ``T`` two
    rivals started from the same data move the field apart by about ``T`` times their rate
    difference, so the pair is worth ``½ log(1 + T² D²/σ²)`` for the RMS rate difference
    ``D`` there, averaged over the hypotheses. This is what weak-form regression on the
    window sees (it regresses ``u_t`` on the library over the window's own data), and it is
    immune to the phase errors of long forecasts: a wrong rival that moves a soliton to the
    wrong place does not make the windows it wrongly fills look informative. Windows where
    rivals that fit the data so far are degenerate (one soliton, for which ``u_xxx`` is a
    combination of ``u_x`` and ``u u_x``) score nothing; soliton collisions and shock fronts,
    where they differ, score most.
    ``target="state"`` compares the rivals' own forecasts (the previous behaviour).
    """

    top_models: int = 3
    drop_one: bool = True
    weight_by_fit: bool = False
    signal_gate: bool = True
    target: str = "rate"
    max_points: int = 256

    def fit(self, context: DesignContext) -> ModelDiscrimination:
        if self.target not in ("rate", "state"):
            raise ConfigError(f"discrimination target {self.target!r}; choose 'rate' or 'state'")
        if context.state is None:
            raise ConfigError(
                "the discrimination acquisition needs a state to integrate from "
                "(the initial condition or a snapshot of the data)"
            )
        self.space_ = context.space
        self.sigma_ = context.sigma()
        self.models_ = rival_models(context.equations, self.top_models, self.drop_one)
        t_name = self.space_.dims[0]
        times = (
            context.times
            if context.times is not None
            else np.linspace(*self.space_.bounds[t_name], 101)
        )
        amplitude = max(float(np.abs(context.state[f]).max()) for f in context.state.data_vars)
        self.cap_ = 2.0 * amplitude or 1.0
        self.predictions_ = []
        for _label, model in self.models_:
            # for rates the forecast is only the field to compare on: growing modes held
            pred = integrate(
                model, context.state, times, self.max_points, stabilise=self.target == "rate"
            )
            pred = pred.rename({"t": t_name}) if t_name != "t" else pred
            self.predictions_.append(
                pred.transpose(*[d for d in self.space_.dims if d in pred.dims])
            )
        # fields × design dims, clipped to a plausible range
        self._values = [
            np.clip(np.stack([p[f].values for f in sorted(p.data_vars)]), -self.cap_, self.cap_)
            for p in self.predictions_
        ]
        self.weights_ = self._plausibility(context.measurements)
        self._cache: tuple = (None, None)
        if self.target == "rate":
            self._fit_rates(t_name)
        return self

    def _fit_rates(self, t_name: str) -> None:
        """Per hypothesis (a ranked model taken as the truth): the squared rate difference of
        every rival pair on its forecast, and its signal, as summed-area tables over the
        design grid, so that any window's mean is four look-ups."""
        self.hypotheses_ = [
            i for i, (label, _) in enumerate(self.models_) if " without " not in label
        ]
        pairs = list(itertools.combinations(range(len(self.models_)), 2))
        grid = self.predictions_[0]
        self.grid_ = [grid[d].values for d in self.space_.dims]
        self.duration_ = self.space_.window.get(t_name) or float(
            self.grid_[0][-1] - self.grid_[0][0]
        )
        states = []
        for h in self.hypotheses_:
            state = self.predictions_[h].copy()
            for f in state.data_vars:  # a blowing-up forecast is no state to evaluate on
                state[f] = state[f].where(np.abs(state[f]) <= self.cap_)
            states.append(state)
        t = self.grid_[0]
        held = t <= t[0] + self.duration_ / 4
        for i, state in enumerate(states):
            f0 = sorted(state.data_vars)[0]
            if not np.isfinite(state[f0].values[~held]).any():
                # a model that diverges at once forecasts nothing: the one state known is the
                # initial one, which holds for a while (a quarter of a window's duration)
                frozen = state.copy()
                for f in frozen.data_vars:
                    frozen[f] = frozen[f].copy(
                        data=np.where(held[:, None], state[f].values[:1], np.nan)
                    )
                states[i] = frozen
        self.states_ = states
        self.tables_: list[dict[str, Any]] = []
        for state in states:
            r = [
                rates({lhs: terms for lhs, terms in model.items()}, state)
                for _label, model in self.models_
            ]
            r = [
                np.stack(
                    [
                        ri[v].transpose(*state[list(state.data_vars)[0]].dims).values
                        for v in sorted(ri.data_vars)
                    ]
                )
                for ri in r
            ]
            u = np.stack([state[f].values for f in sorted(state.data_vars)])
            q = [np.sum((r[a] - r[b]) ** 2, axis=0) for a, b in pairs]
            self.tables_.append(
                {
                    "pairs": [_summed(x) for x in q],
                    "u": _summed(np.sum(u, axis=0)),
                    "u2": _summed(np.sum(u**2, axis=0)),
                }
            )

    def _plausibility(self, measurements: list[xr.Dataset]) -> np.ndarray:
        """Posterior-like model weights (Box & Hill): how well each forecast matches the
        windows measured so far, ``softmax(-½ MSE/σ²)`` — a likelihood tempered to one point,
        so a rival that puts the field where the data say it is not counts for little."""
        if not self.weight_by_fit or not measurements:
            return np.ones(len(self.models_))
        mse = np.zeros(len(self.models_))
        for m, pred in enumerate(self.predictions_):
            errs = []
            for data in measurements:
                at = {d: data[d] for d in pred.dims}
                f = pred.sel(at, method="nearest")
                for name in data.data_vars:
                    errs.append(
                        ((f[name].values - data[name].transpose(*pred.dims).values) ** 2).ravel()
                    )
            e = np.concatenate(errs)
            mse[m] = np.mean(np.where(np.isfinite(e), e, self.cap_**2))
        logw = -0.5 * mse / self.sigma_**2
        w = np.exp(logw - logw.max())
        return w / w.sum()

    def _window_slices(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last grid index of each window (rows × design dims)."""
        lo, hi = self.space_.extent(candidates)
        grid = [self.predictions_[0][d].values for d in self.space_.dims]
        a = np.stack([np.searchsorted(g, lo[:, j] - 1e-9) for j, g in enumerate(grid)], axis=1)
        b = np.stack([np.searchsorted(g, hi[:, j] + 1e-9) for j, g in enumerate(grid)], axis=1)
        return a, np.maximum(b, a + 1)

    def _rate_values(self, candidates: np.ndarray) -> np.ndarray:
        """Nats per rival pair (columns) for each window (rows), averaged over hypotheses."""
        a, b = self._window_slices(candidates)
        n_pairs = len(list(itertools.combinations(range(len(self.models_)), 2)))
        out = np.zeros((len(candidates), n_pairs))
        w = np.array([self.weights_[h] for h in self.hypotheses_], dtype=float)
        w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(len(w), 1))
        scale = (self.duration_ / self.sigma_) ** 2
        for wh, tab in zip(w, self.tables_):
            gate = np.ones(len(candidates))
            if self.signal_gate:
                mean, n = _window_sum(tab["u"], a, b)
                mean2, _ = _window_sum(tab["u2"], a, b)
                var = np.maximum(mean2 / np.maximum(n, 1) - (mean / np.maximum(n, 1)) ** 2, 0.0)
                gate = 1.0 - np.exp(-var / (2.0 * (2.0 * self.sigma_) ** 2))
            cells = np.prod(b - a, axis=1)  # a window's unforecast part carries nothing
            for j, table in enumerate(tab["pairs"]):
                s, _ = _window_sum(table, a, b)
                d2 = s / cells
                out[:, j] += wh * gate * 0.5 * np.log1p(d2 * scale)
        return out

    def _pair_values(self, candidates: np.ndarray) -> np.ndarray:
        """Nats per rival pair (columns) for each window (rows)."""
        candidates = np.atleast_2d(candidates)
        key = candidates.tobytes()
        if self._cache[0] == key:
            return self._cache[1]
        if self.target == "rate":
            out = self._rate_values(candidates)
        else:
            out = 0.5 * np.log1p(self._disagreement(candidates) ** 2 / self.sigma_**2)
        self._cache = (key, out)
        return out

    def _disagreement(self, candidates: np.ndarray) -> np.ndarray:
        """RMS disagreement of the rivals' own forecasts over each window (rows) for each
        model pair (columns), gated (``target="state"``)."""
        candidates = np.atleast_2d(candidates)
        pairs = list(itertools.combinations(range(len(self.models_)), 2))
        out = np.zeros((len(candidates), len(pairs)))
        gate = np.ones(len(candidates))
        a, b = self._window_slices(candidates)
        for i in range(len(candidates)):
            sel = tuple(slice(int(a[i, j]), int(b[i, j])) for j in range(a.shape[1]))
            vals = [v[(slice(None), *sel)] for v in self._values]
            if self.signal_gate:
                gate[i] = self._gate(vals)
            for j, (p, q) in enumerate(pairs):
                diff = vals[p] - vals[q]
                diff = diff[np.isfinite(diff)]  # after a model diverged, it predicts nothing
                out[i, j] = float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
        return out * gate[:, None]

    def _gate(self, vals: list[np.ndarray]) -> float:
        """``1 - exp(-s²/2(2σ)²)`` for the weakest signal any finite forecast puts in the
        window (RMS about its median): only windows where every rival expects data above the
        noise count, since a window of pure noise makes weak-form regression worse."""
        signal = [
            float(np.sqrt(np.mean((v - np.median(v)) ** 2)))
            for v in vals
            if v.size and np.all(np.isfinite(v))
        ]
        if not signal:
            return 1.0
        return float(1.0 - np.exp(-(min(signal) ** 2) / (2.0 * (2.0 * self.sigma_) ** 2)))

    def _pair_weights(self) -> np.ndarray:
        pairs = itertools.combinations(range(len(self.models_)), 2)
        w = np.array([self.weights_[a] * self.weights_[b] for a, b in pairs])
        return w / w.sum() if w.size and w.sum() > 0 else np.full(w.size, 1.0 / max(w.size, 1))

    def score(self, candidates: np.ndarray) -> np.ndarray:
        v = self._pair_values(candidates)
        if v.shape[1] == 0:
            return np.zeros(v.shape[0])
        return v @ self._pair_weights()

    def expected_gain(self, candidates: np.ndarray) -> np.ndarray:
        v = self._pair_values(candidates)
        if v.shape[1] == 0:
            return np.zeros(v.shape[0])
        return v.max(axis=1)

    def separates(self, candidates: np.ndarray) -> list[str]:
        v = self._pair_values(candidates)
        pairs = list(itertools.combinations(range(len(self.models_)), 2))
        if not pairs:
            return [""] * v.shape[0]
        out = []
        for row in v:
            a, b = pairs[int(np.argmax(row))]
            out.append(f"{self.models_[a][0]} | {self.models_[b][0]}")
        return out


def _summed(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed-area tables of a 2-D array's finite values and of their count."""
    good = np.isfinite(a)
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c = np.zeros_like(s)
    s[1:, 1:] = np.cumsum(np.cumsum(np.where(good, a, 0.0), axis=0), axis=1)
    c[1:, 1:] = np.cumsum(np.cumsum(good, axis=0), axis=1)
    return s, c


def _window_sum(
    table: tuple[np.ndarray, np.ndarray], a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of finite values over windows ``[a, b)`` (rows × 2) of a summed table."""
    out = []
    for t in table:
        out.append(
            t[b[:, 0], b[:, 1]] - t[a[:, 0], b[:, 1]] - t[b[:, 0], a[:, 1]] + t[a[:, 0], a[:, 1]]
        )
    return out[0], out[1]


# --- expected information about the equation -------------------------------------------------
@dataclass
class EquationInformation(_Base):
    """Bayesian D-optimal design for the regression itself: each of the top-ranked models,
    integrated forward, predicts each window's field; its weak-form library rows ``Θ_w``
    would add ``Θ_wᵀΘ_w`` to the information matrix ``M`` of the data so far, so the window
    is worth ``½ log det(I + M⁻¹ Θ_wᵀΘ_w)`` nats about the library coefficients (columns
    scaled to unit norm on the data so far), averaged over the models' forecasts. Windows
    that decorrelate competing terms — a second soliton amplitude, a steeper front — score
    highest, where plain disagreement cannot see them; empty windows score nothing."""

    poly_degree: int = 2
    derivative_order: int = 3
    support: float = 0.25
    top_models: int = 3
    max_points: int = 512
    ridge: float = 1e-6

    def _features(self, ds: xr.Dataset) -> np.ndarray:
        from physforge.discovery.weak import WeakForm, weak_features

        form = WeakForm(support_time=self.support, support_space=self.support, overlap=0.5)
        return weak_features(ds, self.poly_degree, self.derivative_order, form=form).theta

    def fit(self, context: DesignContext) -> EquationInformation:
        if context.state is None or not context.measurements or not context.equations:
            raise ConfigError(
                "the equation-eig acquisition needs measurements, a discovered "
                "model and a state to integrate it from"
            )
        self.space_ = context.space
        t_name = self.space_.dims[0]
        times = (
            context.times
            if context.times is not None
            else np.linspace(*self.space_.bounds[t_name], 101)
        )
        self.predictions_ = []
        for _label, model in rival_models(context.equations, self.top_models, drop_one=False):
            pred = integrate(model, context.state, times, self.max_points)
            self.predictions_.append(pred.rename({"t": t_name}) if t_name != "t" else pred)
        theta = np.vstack([self._features(m) for m in context.measurements])
        self.norms_ = np.linalg.norm(theta, axis=0)
        self.norms_[self.norms_ == 0] = 1.0
        m = (theta / self.norms_).T @ (theta / self.norms_)
        self.info_ = m + self.ridge * np.trace(m) / len(m) * np.eye(len(m))
        self.chol_ = np.linalg.cholesky(self.info_)
        return self

    def _gain(self, prediction: xr.Dataset, lo: np.ndarray, hi: np.ndarray) -> float:
        dims = [d for d in self.space_.dims if d in prediction.dims]
        sel = {
            d: slice(lo[j] - 1e-9, hi[j] + 1e-9)
            for j, d in enumerate(self.space_.dims)
            if d in dims
        }
        win = prediction.sel(sel)
        win.attrs = {
            "physforge_time": dims[0],
            "physforge_space": ",".join(dims[1:]),
            "periodic": "none",
        }
        try:
            th = self._features(win) / self.norms_
        except ValueError:  # a window too small for the test functions
            return 0.0
        if not np.all(np.isfinite(th)):
            return 0.0
        a = np.linalg.solve(self.chol_, th.T)  # L⁻¹Θᵀ: det(I + M⁻¹ΘᵀΘ) = det(I + Θ M⁻¹ Θᵀ)
        small = a.T @ a if a.shape[1] <= a.shape[0] else a @ a.T
        sign, logdet = np.linalg.slogdet(np.eye(len(small)) + small)
        return 0.5 * logdet if sign > 0 else 0.0

    def score(self, candidates: np.ndarray) -> np.ndarray:
        candidates = np.atleast_2d(candidates)
        key = candidates.tobytes()
        cached: tuple = getattr(self, "_cache", (None, None))
        if cached[0] == key:
            return cached[1]
        lo, hi = self.space_.extent(candidates)
        out = np.array(
            [
                np.mean([self._gain(p, lo[i], hi[i]) for p in self.predictions_])
                for i in range(len(candidates))
            ]
        )
        self._cache = (key, out)
        return out


# --- Gaussian-process expected information gain -----------------------------------------------
@dataclass
class GaussianProcessEIG(_Base):
    """Expected information gain of a window about the field, from a GP over the design space."""

    n_probe: int = 4
    max_points: int = 300
    seed: int = 0

    def fit(self, context: DesignContext) -> GaussianProcessEIG:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        if not context.measurements:
            raise ConfigError("the gp-eig acquisition needs at least one measurement")
        self.space_ = context.space
        self.sigma_ = context.sigma()
        dims = self.space_.dims
        self.lo_ = np.array([self.space_.bounds[d][0] for d in dims])
        self.span_ = np.array([self.space_.bounds[d][1] - self.space_.bounds[d][0] for d in dims])
        xs, ys = [], []
        for m in context.measurements:
            mesh = np.meshgrid(*[m[d].values for d in dims], indexing="ij")
            xs.append(np.stack([a.ravel() for a in mesh], axis=1))
            ys.append(sum(m[f].transpose(*dims).values for f in m.data_vars).ravel())
        x, y = np.concatenate(xs), np.concatenate(ys)
        rng = np.random.default_rng(self.seed)
        if len(x) > self.max_points:
            keep = rng.choice(len(x), self.max_points, replace=False)
            x, y = x[keep], y[keep]
        kernel = ConstantKernel(1.0, (1e-4, 1e4)) * RBF(
            [0.1] * len(dims), (1e-3, 10.0)
        ) + WhiteKernel(self.sigma_**2, (1e-8, 1e2))
        self.gp_ = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed)
        self.gp_.fit(self._z(x), y)
        self.x_, self.y_ = self._z(x), y
        self.noise_ = float(max(self.gp_.kernel_.k2.noise_level * self.gp_._y_train_std**2, 1e-12))
        return self

    def _z(self, x: np.ndarray) -> np.ndarray:
        return (x - self.lo_) / self.span_

    def _probes(self, c: np.ndarray) -> np.ndarray:
        p = self.space_.probes(c, self.n_probe)
        return self._z(np.stack([p[d] for d in self.space_.dims], axis=1))

    def score(self, candidates: np.ndarray) -> np.ndarray:
        out = []
        for c in np.atleast_2d(candidates):
            _, cov = self.gp_.predict(self._probes(c), return_cov=True)
            sign, logdet = np.linalg.slogdet(np.eye(len(cov)) + cov / self.noise_)
            out.append(0.5 * logdet if sign > 0 else 0.0)
        return np.array(out)

    def condition(self, chosen: np.ndarray) -> None:
        """Kriging believer: the chosen window joins the data at the GP mean."""
        from sklearn.base import clone

        z = np.concatenate([self._probes(c) for c in np.atleast_2d(chosen)])
        self.x_ = np.concatenate([self.x_, z])
        self.y_ = np.concatenate([self.y_, self.gp_.predict(z)])
        gp = clone(self.gp_).set_params(kernel=self.gp_.kernel_, optimizer=None)
        self.gp_ = gp.fit(self.x_, self.y_)


@dataclass
class RandomScores(_Base):
    """Uniformly random values: proposals drawn at random from the candidates."""

    seed: int = 0

    def fit(self, context: DesignContext) -> RandomScores:
        self.rng_ = np.random.default_rng(self.seed)
        return self

    def score(self, candidates: np.ndarray) -> np.ndarray:
        return self.rng_.random(len(np.atleast_2d(candidates)))

    def expected_gain(self, candidates: np.ndarray) -> np.ndarray:
        return np.zeros(len(np.atleast_2d(candidates)))


ACQUISITIONS: dict[str, type] = {
    "uncertainty": SurrogateUncertainty,
    "discrimination": ModelDiscrimination,
    "gp-eig": GaussianProcessEIG,
    "equation-eig": EquationInformation,
    "random": RandomScores,
}


def get_acquisition(name: str, **params: Any) -> Acquisition:
    try:
        cls = ACQUISITIONS[name]
    except KeyError:
        raise ConfigError(
            f"unknown acquisition {name!r}; choose one of {sorted(ACQUISITIONS)}"
        ) from None
    return cls(**params)
