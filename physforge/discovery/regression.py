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
    "backward_path",
    "best_swaps",
    "pareto_score",
    "NOISY",
    "best_rss_by_size",
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

        opt = ps.STLSQ(
            threshold=self.threshold, alpha=self.alpha, max_iter=self.max_iter, unbias=True
        )
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
        opt = ps.SR3(
            reg_weight_lam=lam,
            regularizer="L0",
            relax_coeff_nu=self.nu,
            max_iter=self.max_iter,
            unbias=True,
        )
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

    def scores(
        self,
        tss: float,
        n_eff: float | None = None,
        reference: Candidate | None = None,
        n_terms: int | None = None,
        fitted_norm: float | None = None,
        target_norm: float | None = None,
        tolerance: float = 1.5,
        best_rss: dict[int, float] | None = None,
        noisy: bool = False,
    ) -> dict[str, float]:
        out = information_criteria(self.rss, self.n, self.k, tss, n_eff)
        if target_norm and reference is not None:
            nxt = (best_rss or {}).get(self.k + 1) if noisy else None
            out["pareto"] = pareto_score(
                self.rss,
                self.k,
                reference.rss,
                target_norm,
                n_terms or self.k,
                n_eff,
                tolerance,
                nxt,
            )
        if reference is not None and n_terms and fitted_norm:
            # MSTLS loss (Messenger & Bortz 2021): the residual this model adds over the full
            # least-squares fit, relative to that fit, plus the fraction of library terms used.
            extra = math.sqrt(max(self.rss - reference.rss, 0.0)) / fitted_norm
            out["mstls"] = extra + self.k / n_terms
        return out


ROUNDOFF_FLOOR = 1e-3  # residuals below this fraction of the target are quadrature/round-off
NOISE_LEVEL = 0.01  # family-wise significance of the noise test over the library's sizes
MIN_EFFECT = 0.05  # a term must lower the (floored) residual norm by 5 % to be kept by noise
NOISY = 0.05  # data whose estimated noise is above 5 % of the field's std get the noise test


def best_rss_by_size(cands: list[Candidate]) -> dict[int, float]:
    """The smallest residual among the candidates of each size."""
    out: dict[int, float] = {}
    for c in cands:
        out[c.k] = min(out.get(c.k, math.inf), c.rss)
    return out


def pareto_score(
    rss: float,
    k: int,
    rss_full: float,
    target_norm: float,
    n_terms: int,
    n_eff: float | None,
    tolerance: float,
    rss_next: float | None = None,
) -> float:
    """The sparsest model that fits as well as the whole library, at both ends of noise.

    Residual norms are floored at ``ROUNDOFF_FLOOR × |target|``: on clean data the full
    library's residual is quadrature and round-off error, which spurious terms shave but no
    term explains, so a model within the floor fits as well as any. A model is admissible when
    (a) its floored residual is within ``tolerance`` of the full fit's, and (b) no model with
    one more term (``rss_next``, the best of that size) fits clearly better than noise
    explains: lower by at least ``MIN_EFFECT`` in norm and significant against noise, its
    likelihood-ratio statistic ``n_eff · log(rss / rss_next)`` (Gaussian, ``n_eff``
    independent rows) above the χ²₁ quantile at ``NOISE_LEVEL`` / |library| (Bonferroni over
    the sizes). (b) binds on noisy data, where a small physical term (a viscosity at 50–100 %
    noise) lowers the residual by less than ``tolerance`` but by far more than noise can; the
    effect-size bar keeps it from adding terms that fit noise carried by other columns (errors
    in variables), which no row count accounts for. Admissible models score in [k, k+1),
    ordered by residual; the others k + 1 + |library| + excess. (b) applies only to data whose
    estimated noise exceeds ``NOISY`` (callers pass ``rss_next`` then): below it the residual
    is mostly discretisation error, which a spurious term lowers "significantly" too.
    """
    from scipy.stats import chi2

    floor = ROUNDOFF_FLOOR * target_norm

    def norm(v: float) -> float:
        return max(math.sqrt(max(v, 0.0)), floor)

    ratio = norm(rss) / norm(rss_full)
    noisy = False
    if rss_next is not None and n_eff:
        step = norm(rss) / norm(rss_next)
        statistic = n_eff * 2.0 * math.log(max(step, 1.0))
        noisy = step >= 1.0 + MIN_EFFECT and statistic > chi2.ppf(
            1.0 - NOISE_LEVEL / max(n_terms, 1), 1
        )
    if ratio <= tolerance and not noisy:
        return k + 0.999 * math.log(ratio) / math.log(tolerance)
    return k + 1 + n_terms + math.log(max(ratio / tolerance, 1.0)) + (1.0 if noisy else 0.0)


RIVAL_TOLERANCE = 1.1  # residual norms within 10 % (after the floor) cannot be told apart


def indistinguishable(other: Candidate, chosen: Candidate, ctx: dict) -> bool:
    """Whether the data cannot tell ``other`` from ``chosen``: the selection rule admits it,
    and its floored residual is within ``RIVAL_TOLERANCE`` of the chosen one's and not
    significantly larger against the noise (the likelihood-ratio statistic on ``n_eff`` rows
    below the 99 % quantile of χ² with one degree of freedom)."""
    from scipy.stats import chi2

    if other.scores(**ctx)["pareto"] >= other.k + 1:
        return False
    floor = ROUNDOFF_FLOOR * ctx["target_norm"]
    ratio = max(math.sqrt(other.rss), floor) / max(math.sqrt(chosen.rss), floor)
    statistic = ctx.get("n_eff", 0.0) * 2.0 * math.log(max(ratio, 1.0))
    return ratio <= RIVAL_TOLERANCE and statistic <= chi2.ppf(1.0 - NOISE_LEVEL, 1)


def rivals(theta: np.ndarray, y: np.ndarray, support: tuple[int, ...]) -> list[Candidate]:
    """Every support one swap away from ``support`` (one term out, another in), refit."""
    inside = set(support)
    out = []
    for i in support:
        rest = [s for s in support if s != i]
        for j in range(theta.shape[1]):
            if j not in inside:
                out.append(_candidate(theta, y, tuple(sorted([*rest, j])), []))
    return out


def conditioning(theta: np.ndarray, support: tuple[int, ...], names: list[str]) -> dict:
    """How well the data separate the chosen columns: the condition number of their
    unit-norm Gram matrix, and the library column most correlated with one of them."""
    thn, _ = _normalise(theta)
    out: dict = {"condition_number": 1.0, "max_correlation": None}
    if not support:
        return out
    sub = thn[:, list(support)]
    sv = np.linalg.svd(sub, compute_uv=False)
    out["condition_number"] = float(sv[0] / sv[-1]) if sv[-1] > 0 else math.inf
    corr = np.abs(sub.conj().T @ thn)
    corr[np.arange(len(support)), list(support)] = 0.0
    i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
    out["max_correlation"] = {
        "term": names[support[i]],
        "with": names[j],
        "value": float(corr[i, j]),
    }
    return out


def effective_sample_size(
    residual: np.ndarray, row_index: np.ndarray | None, row_shape: list[int] | None = None
) -> float:
    """Rows carry correlated errors (derivative truncation, smoothing windows, overlapping test
    functions), so they are worth fewer independent samples: n_eff = n Π (1 - ρ_a) / (1 + ρ_a)
    for the lag-1 autocorrelation ρ_a of the residual between neighbours along each axis a of
    the row grid (an AR(1) approximation per axis). ``row_index``: each row's flat C-order
    index in a grid of shape ``row_shape`` (without a shape, neighbours differ by 1)."""
    n = residual.size
    if row_index is None or n < 3:
        return float(n)
    shape = list(row_shape or [n])
    strides = [int(np.prod(shape[a + 1 :])) for a in range(len(shape))]
    order = np.argsort(row_index, kind="stable")
    idx = np.asarray(row_index)[order]
    r = (residual - residual.mean())[order]
    factor = 1.0
    for stride in strides:
        j = np.searchsorted(idx, idx + stride)
        ok = j < n
        ok[ok] = idx[j[ok]] == idx[ok] + stride
        if ok.sum() < 10:
            continue
        a, b = r[ok], r[j[ok]]
        denom = math.sqrt(float(np.vdot(a, a).real * np.vdot(b, b).real)) or 1.0
        rho = float(np.clip(np.vdot(a, b).real / denom, 0.0, 0.9999))
        factor *= (1.0 - rho) / (1.0 + rho)
    return max(n * factor, 2.0)


def information_criteria(
    rss: float, n: int, k: int, tss: float, n_eff: float | None = None
) -> dict[str, float]:
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
    coef = np.zeros(theta.shape[1], dtype=np.result_type(theta, y))
    if support:
        sol, *_ = np.linalg.lstsq(theta[:, list(support)], y, rcond=None)
        coef[list(support)] = sol
    return coef


def _normalise(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(theta, axis=0)
    norms[norms == 0] = 1.0
    return theta / norms, norms


class _Reduced:
    """Least squares on any subset of a library's columns through one QR of the whole library
    (unit-norm columns): ``min |y - Θ_S c|`` becomes an m × |S| problem, accurate at round-off.
    """

    def __init__(self, theta: np.ndarray, y: np.ndarray):
        thn, _ = _normalise(theta)
        q, self.r = np.linalg.qr(thn)
        self.z = q.conj().T @ y
        self.base = max(float(np.sum(np.abs(y) ** 2) - np.sum(np.abs(self.z) ** 2)), 0.0)

    def rss(self, support: list[int] | tuple[int, ...]) -> float:
        if not support:
            return self.base + float(np.sum(np.abs(self.z) ** 2))
        rs = self.r[:, list(support)]
        c = np.linalg.lstsq(rs, self.z, rcond=None)[0]
        return self.base + float(np.sum(np.abs(self.z - rs @ c) ** 2))


def backward_path(theta: np.ndarray, y: np.ndarray) -> list[tuple[int, ...]]:
    """Supports of backward elimination from the whole library, one per size.

    Each step drops the column whose removal raises the residual least, ``|c_j|² / (G⁻¹)_jj``
    on unit-norm columns. Thresholding coefficients (STLSQ) is misled by nearly collinear
    columns (u, u², u³ and 1 when u stays in a narrow range), whose single coefficients are
    large and unstable while their joint contribution is not; the residual is not.
    """
    red = _Reduced(theta, y)
    support = list(range(red.r.shape[1]))
    out = []
    while support:
        out.append(tuple(support))
        rinv = np.linalg.pinv(red.r[:, support])
        c = rinv @ red.z
        drop = np.abs(c) ** 2 / np.maximum(np.sum(np.abs(rinv) ** 2, axis=1), 1e-300)
        support.pop(int(np.argmin(drop)))
    return out


def best_swaps(
    theta: np.ndarray,
    y: np.ndarray,
    supports: list[tuple[int, ...]],
    max_size: int = 12,
    max_passes: int = 10,
) -> list[tuple[int, ...]]:
    """Each support improved by exchanging one term for another while that lowers the
    residual (a local search for the best subset of its size). Greedy elimination takes one
    wrong turn for good — at high noise it drops u u_x of KdV for u² u_x, which then fits
    worse than the true pair; the exchange recovers it."""
    red = _Reduced(theta, y)
    m = red.r.shape[1]
    out = []
    for start in supports:
        if not 0 < len(start) <= max_size or len(start) >= m:
            continue
        cur, best = list(start), red.rss(start)
        for _ in range(max_passes):
            move = None
            for i in range(len(cur)):
                rest = cur[:i] + cur[i + 1 :]
                for j in set(range(m)) - set(cur):
                    value = red.rss(rest + [j])
                    if value < best * (1 - 1e-9):
                        best, move = value, rest + [j]
            if move is None:
                break
            cur = move
        out.append(tuple(sorted(cur)))
    return out


def _candidate(
    theta: np.ndarray, y: np.ndarray, support: tuple[int, ...], thresholds: list[float]
) -> Candidate:
    coef = lstsq_on_support(theta, y, support)
    rss = float(np.sum(np.abs(y - theta @ coef) ** 2))
    return Candidate(support, coef, rss, len(y), thresholds)


def sweep(
    theta: np.ndarray, y: np.ndarray, backend: str = "stlsq", n_thresholds: int = 40
) -> list[Candidate]:
    """Fit the backend over a log-spaced threshold sweep; one refit Candidate per support.

    Thresholds apply to coefficients of unit-norm columns with a unit-norm target, so one
    sweep serves every dataset scale. The supports of backward elimination join the sweep's:
    they stay right where collinear columns mislead the thresholds.
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
        found[support] = _candidate(theta, y, support, [float(thr)])
    path = backward_path(theta, y)
    for support in path + best_swaps(theta, y, path):
        if support not in found:
            found[support] = _candidate(theta, y, support, [])
    if not found:
        raise DiscoveryError("the sparsity sweep produced no candidate model")
    return list(found.values())


def _gram_fit(
    gram: np.ndarray, rhs: np.ndarray, yy: float, support: tuple[int, ...], n: int
) -> Candidate:
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


def bootstrap(
    theta: np.ndarray,
    y: np.ndarray,
    candidates: list[Candidate],
    chosen: Candidate,
    criterion: str,
    score_kw: dict,
    n_resamples: int,
    seed: int = 0,
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
        fits = [fit(cand.support) for cand in candidates]
        kw = dict(
            score_kw,
            tss=tss,
            reference=ref,
            fitted_norm=math.sqrt(max(ref.coef @ gram @ ref.coef, 0.0)) or 1.0,
            target_norm=math.sqrt(yy_w) or 1.0,
            best_rss=best_rss_by_size(fits),
        )
        best, best_score = None, np.inf
        for cand, c in zip(candidates, fits):
            score = c.scores(**kw)[criterion]
            if score < best_score:
                best, best_score = c, score
            if cand.support == chosen.support:
                refit[b] = c.coef
        if best is not None:
            selected[b] = best.coef
    return {"refit": refit, "selected": selected}
