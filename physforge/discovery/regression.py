"""Sparse regression backends behind one protocol, and model selection over a sparsity sweep.

Backends are scikit-learn-shaped estimators: parameters in ``__init__``, ``fit(theta, y)``
returns ``self``, the learned coefficients in ``coef_`` (one column of ``y`` at a time).
PySINDy supplies the optimisers; PhysForge adds the sweep, the information criteria, the
least-squares refit on the chosen support and bootstrap uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from physforge.errors import ConfigError, DiscoveryError

__all__ = [
    "Regressor",
    "REGRESSORS",
    "backend_choices",
    "STLSQRegressor",
    "SR3Regressor",
    "Candidate",
    "information_criteria",
    "sweep",
    "bootstrap",
    "get_regressor",
]


class Regressor(Protocol):
    """Sparse linear regression of one target on normalised library columns."""

    def fit(self, theta: np.ndarray, y: np.ndarray) -> Regressor: ...

    coef_: np.ndarray


@dataclass
class STLSQRegressor:
    """Sequentially thresholded least squares (PySINDy's STLSQ, PDE-FIND's workhorse)."""

    threshold: float = 0.1
    alpha: float = 1e-6
    max_iter: int = 20

    def fit(self, theta: np.ndarray, y: np.ndarray) -> STLSQRegressor:
        import pysindy as ps

        opt = ps.STLSQ(threshold=self.threshold, alpha=self.alpha, max_iter=self.max_iter,
                       unbias=True)
        opt.fit(theta, y.reshape(-1, 1))
        self.coef_ = np.asarray(opt.coef_).ravel()
        return self


@dataclass
class SR3Regressor:
    """Sparse relaxed regularised regression with an L0 penalty (PySINDy's SR3)."""

    threshold: float = 0.1
    nu: float = 1.0
    max_iter: int = 100

    def fit(self, theta: np.ndarray, y: np.ndarray) -> SR3Regressor:
        import pysindy as ps

        lam = self.threshold**2 / (2.0 * self.nu)
        opt = ps.SR3(reg_weight_lam=lam, regularizer="L0", relax_coeff_nu=self.nu,
                     max_iter=self.max_iter, unbias=True)
        opt.fit(theta, y.reshape(-1, 1))
        self.coef_ = np.asarray(opt.coef_).ravel()
        return self


@dataclass
class EnsembleRegressor:
    """Bagging SINDy (Fasel et al. 2022, PySINDy's EnsembleOptimizer): STLSQ on bootstrap
    resamples; a term is kept when it appears in at least ``keep`` of the models, with the
    median coefficient."""

    threshold: float = 0.1
    n_models: int = 20
    keep: float = 0.5
    seed: int = 0

    def fit(self, theta: np.ndarray, y: np.ndarray) -> EnsembleRegressor:
        import pysindy as ps

        # the bootstrap of PySINDy's EnsembleOptimizer(bagging=True), drawn from this
        # regressor's own generator (EnsembleOptimizer draws from numpy's global one)
        rng = np.random.default_rng(self.seed)
        y = y.reshape(-1, 1)
        coefs = np.empty((self.n_models, theta.shape[1]))
        for i in range(self.n_models):
            rows = rng.integers(0, len(theta), size=len(theta))
            opt = ps.STLSQ(threshold=self.threshold, alpha=1e-6, unbias=True)
            opt.fit(theta[rows], y[rows])
            coefs[i] = np.asarray(opt.coef_).ravel()
        self.inclusion_ = np.mean(coefs != 0, axis=0)
        self.coef_ = np.where(self.inclusion_ >= self.keep, np.median(coefs, axis=0), 0.0)
        return self


REGRESSORS: dict[str, type] = {
    "stlsq": STLSQRegressor,
    "sr3": SR3Regressor,
    "ensemble": EnsembleRegressor,
}


def backend_choices() -> list[str]:
    """Every discovery backend by name: the sparse regressors, then the symbolic ones."""
    from physforge.discovery.symbolic import SYMBOLIC

    return [*REGRESSORS, *SYMBOLIC]


def get_regressor(name: str, **params) -> Regressor:
    try:
        cls = REGRESSORS[name]
    except KeyError:
        from physforge.discovery.symbolic import SYMBOLIC

        raise ConfigError(
            f"unknown discovery backend {name!r}; choose one of "
            f"{sorted(REGRESSORS) + sorted(SYMBOLIC)}"
        ) from None
    return cls(**params)


@dataclass
class Candidate:
    """One candidate model for one lhs: its support, refit coefficients and scores."""

    support: tuple[int, ...]
    coef: np.ndarray  # full length, zeros off the support, on the original (unnormalised) scale
    rss: float
    n: int
    thresholds: list[float] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.support)

    def scores(self, tss: float, n_eff: float | None = None,
               reference: Candidate | None = None, n_terms: int | None = None,
               fitted_norm: float | None = None, target_norm: float | None = None,
               tolerance: float = 1.5) -> dict[str, float]:
        out = information_criteria(self.rss, self.n, self.k, tss, n_eff)
        if target_norm and reference is not None:
            # Pareto front rule: the sparsest model whose residual is within `tolerance` of the
            # best the library can do (the full least-squares fit). Indifferent to row count and
            # to correlated errors, which make likelihood criteria over-fit on PDE data.
            # Admissible models score in [k, k+1); the others k + 1 + |library| + excess.
            floor = 1e-3 * target_norm  # below this, residuals are quadrature and round-off
            best = max(math.sqrt(reference.rss), floor)
            ratio = max(math.sqrt(self.rss), floor) / best
            if ratio <= tolerance:
                out["pareto"] = self.k + 0.999 * math.log(ratio) / math.log(tolerance)
            else:
                out["pareto"] = self.k + 1 + (n_terms or 0) + math.log(ratio / tolerance)
        if reference is not None and n_terms and fitted_norm:
            # MSTLS loss (Messenger & Bortz 2021): the residual this model adds over the full
            # least-squares fit, relative to that fit, plus the fraction of library terms used.
            extra = math.sqrt(max(self.rss - reference.rss, 0.0)) / fitted_norm
            out["mstls"] = extra + self.k / n_terms
        return out


def effective_sample_size(residual: np.ndarray, row_index: np.ndarray | None) -> float:
    """Rows carry correlated errors (derivative truncation, smoothing windows), so they are
    worth fewer independent samples: n_eff = n (1 - rho) / (1 + rho) for the lag-1
    autocorrelation rho of the residual between grid neighbours (an AR(1) approximation)."""
    n = residual.size
    if row_index is None or n < 3:
        return float(n)
    pairs = np.flatnonzero(np.diff(row_index) == 1)
    if pairs.size < 10:
        return float(n)
    r = residual - residual.mean()
    a, b = r[pairs], r[pairs + 1]
    denom = math.sqrt(float(np.dot(a, a) * np.dot(b, b))) or 1.0
    rho = float(np.clip(np.dot(a, b) / denom, 0.0, 0.9999))
    return max(n * (1.0 - rho) / (1.0 + rho), 2.0)


def information_criteria(rss: float, n: int, k: int, tss: float,
                         n_eff: float | None = None) -> dict[str, float]:
    """AIC, AICc and BIC of a Gaussian linear model with ``n_eff`` independent samples, and R²."""
    sigma2 = max(rss / n, 1e-300)
    n_obs: float = n_eff if n_eff is not None else n
    ll_term = n_obs * math.log(sigma2)
    aic = ll_term + 2 * k
    aicc = aic + (2 * k * (k + 1) / (n_obs - k - 1) if n_obs - k - 1 > 0 else math.inf)
    bic = ll_term + k * math.log(n_obs)
    r2 = 1.0 - rss / tss if tss > 0 else 1.0
    return {"aic": aic, "aicc": aicc, "bic": bic, "r2": r2, "complexity": k}


def lstsq_on_support(theta: np.ndarray, y: np.ndarray, support: tuple[int, ...]) -> np.ndarray:
    coef = np.zeros(theta.shape[1])
    if support:
        sol, *_ = np.linalg.lstsq(theta[:, list(support)], y, rcond=None)
        coef[list(support)] = sol
    return coef


def _normalise(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(theta, axis=0)
    norms[norms == 0] = 1.0
    return theta / norms, norms


def sweep(theta: np.ndarray, y: np.ndarray, backend: str = "stlsq",
          n_thresholds: int = 40) -> list[Candidate]:
    """Fit the backend over a log-spaced threshold sweep; one refit Candidate per support.

    Thresholds apply to coefficients of unit-norm columns with a unit-norm target, so one
    sweep serves every dataset scale.
    """
    if not np.all(np.isfinite(theta)) or not np.all(np.isfinite(y)):
        raise DiscoveryError("the feature library has NaN or inf values; check the derivatives")
    thn, norms = _normalise(theta)
    yn = y / (np.linalg.norm(y) or 1.0)
    ls = np.linalg.lstsq(thn, yn, rcond=None)[0]
    hi = float(np.max(np.abs(ls))) if ls.size else 1.0
    thresholds = np.geomspace(1e-5, max(hi, 1e-4), n_thresholds)
    found: dict[tuple[int, ...], Candidate] = {}
    for thr in thresholds:
        reg = get_regressor(backend, threshold=float(thr)).fit(thn, yn)
        support = tuple(int(i) for i in np.flatnonzero(np.abs(reg.coef_) > 0))
        if support in found:
            found[support].thresholds.append(float(thr))
            continue
        coef = lstsq_on_support(theta, y, support)
        rss = float(np.sum((y - theta @ coef) ** 2))
        found[support] = Candidate(support, coef, rss, len(y), [float(thr)])
    if not found:
        raise DiscoveryError("the sparsity sweep produced no candidate model")
    return list(found.values())


def _gram_fit(gram: np.ndarray, rhs: np.ndarray, yy: float, support: tuple[int, ...],
              n: int) -> Candidate:
    """Least squares on ``support`` from normal equations (columns scaled to unit diagonal)."""
    coef = np.zeros(gram.shape[0])
    if support:
        s_ = list(support)
        d = np.sqrt(np.diag(gram)[s_])
        d[d == 0] = 1.0
        sol = np.linalg.lstsq(gram[np.ix_(s_, s_)] / np.outer(d, d), rhs[s_] / d, rcond=None)[0]
        coef[s_] = sol / d
    rss = max(yy - 2 * coef @ rhs + coef @ gram @ coef, 0.0)
    return Candidate(support, coef, rss, n)


def bootstrap(theta: np.ndarray, y: np.ndarray, candidates: list[Candidate], chosen: Candidate,
              criterion: str, score_kw: dict, n_resamples: int, seed: int = 0
              ) -> dict[str, np.ndarray]:
    """Row bootstrap of the whole selection step.

    Per resample every candidate support (and the full library) is refit by least squares and
    the criterion picks one again. ``refit``: the chosen model's coefficients per resample (for
    95 % intervals); ``selected``: the coefficients of the model picked on that resample, whose
    non-zero pattern gives each term's inclusion probability (stability selection).
    """
    rng = np.random.default_rng(seed)
    n, m = theta.shape
    refit = np.zeros((n_resamples, m))
    selected = np.zeros((n_resamples, m))
    full = tuple(range(m))
    for b in range(n_resamples):
        # multiplicity weights of the resample: its normal equations in O(n m^2) once, then
        # every candidate is a small k x k solve
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        tw = theta * w[:, None]
        gram, rhs, yy_w = tw.T @ theta, tw.T @ y, float(w @ (y * y))
        ybar = float(w @ y) / n
        tss = yy_w - n * ybar**2

        def fit(support: tuple[int, ...], g=gram, r=rhs, yy=yy_w) -> Candidate:
            return _gram_fit(g, r, yy, support, n)

        ref = fit(full)
        kw = dict(score_kw, tss=tss, reference=ref,
                  fitted_norm=math.sqrt(max(ref.coef @ gram @ ref.coef, 0.0)) or 1.0,
                  target_norm=math.sqrt(yy_w) or 1.0)
        best, best_score = None, np.inf
        for cand in candidates:
            c = fit(cand.support)
            score = c.scores(**kw)[criterion]
            if score < best_score:
                best, best_score = c, score
            if cand.support == chosen.support:
                refit[b] = c.coef
        if best is not None:
            selected[b] = best.coef
    return {"refit": refit, "selected": selected}
