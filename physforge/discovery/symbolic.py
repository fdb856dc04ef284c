"""Symbolic regression backends: free-form expressions of the fields and their derivatives,
expanded with sympy into library terms, then ranked like every other candidate.

``operon`` (pyoperon, a C++ genetic-programming engine with no Julia dependency) runs
everywhere; ``pysr`` (PySR, extra ``pysr``) needs Julia, which it installs on first import, and
is imported only when chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # sympy is imported where used (the CLI lists the backends at start-up)
    import sympy

from physforge.errors import BackendUnavailableError, ConfigError

__all__ = [
    "SymbolicBackend",
    "SYMBOLIC",
    "OperonSR",
    "PySRBackend",
    "expression_terms",
    "get_symbolic",
]


def _sympy():
    import sympy

    return sympy


class SymbolicBackend(Protocol):
    """Fits expressions ``y ≈ f(X)``; ``pareto_`` lists (expression, mse, complexity)."""

    def fit(self, X: np.ndarray, y: np.ndarray, names: list[str]) -> SymbolicBackend: ...

    pareto_: list[tuple[sympy.Expr, float, int]]


@dataclass
class OperonSR:
    """Multi-objective (accuracy, length) genetic programming with pyoperon."""

    generations: int = 300
    population_size: int = 1000
    max_length: int = 25
    seed: int = 0
    pareto_: list = field(default_factory=list, init=False, repr=False)

    def fit(self, X: np.ndarray, y: np.ndarray, names: list[str]) -> OperonSR:
        try:
            from pyoperon.sklearn import SymbolicRegressor
        except ImportError as exc:  # pragma: no cover - pyoperon is a core dependency
            raise BackendUnavailableError(
                "symbolic backend 'operon' needs pyoperon: pip install pyoperon"
            ) from exc
        reg = SymbolicRegressor(
            allowed_symbols="add,mul,constant,variable",
            generations=self.generations,
            population_size=self.population_size,
            max_length=self.max_length,
            n_threads=1,
            random_state=self.seed,
            objectives=["r2", "length"],
            optimizer_iterations=5,
            max_evaluations=self.generations * self.population_size * 2,
            add_model_scale_term=False,
            add_model_intercept_term=False,
        )
        reg.fit(X, y)
        self.pareto_ = [
            (
                _sympy().sympify(
                    reg.get_model_string(m["tree"], 8, names),
                    locals={n: _sympy().Symbol(n) for n in names},
                ),
                float(m["mean_squared_error"]),
                int(m["length"]),
            )
            for m in reg.pareto_front_
        ]
        return self


@dataclass
class PySRBackend:
    """PySR's Pareto front (Julia engine)."""

    niterations: int = 40
    seed: int = 0
    pareto_: list = field(default_factory=list, init=False, repr=False)

    def fit(self, X: np.ndarray, y: np.ndarray, names: list[str]) -> PySRBackend:
        try:
            import pysr
        except ImportError as exc:
            raise BackendUnavailableError(
                "backend 'pysr' needs PySR, which is not installed: pip install 'physforge[pysr]'"
                ". PySR also needs Julia, which it downloads on first import (network access "
                "required; or point JULIA_DEPOT_PATH/PYTHON_JULIACALL_EXE at an existing Julia)."
                " Without Julia, use --backend operon."
            ) from exc
        except Exception as exc:  # juliacall raises plain Exceptions when Julia is missing
            raise BackendUnavailableError(
                f"backend 'pysr' could not start Julia ({type(exc).__name__}: {exc}). PySR "
                "downloads Julia on first import, which needs network access; install Julia "
                "and set PYTHON_JULIACALL_EXE, or use --backend operon."
            ) from exc
        model = pysr.PySRRegressor(
            niterations=self.niterations,
            binary_operators=["+", "*"],
            random_state=self.seed,
            deterministic=True,
            parallelism="serial",
            progress=False,
            verbosity=0,
        )
        model.fit(X, y, variable_names=names)
        self.pareto_ = [
            (_sympy().sympify(str(row.sympy_format)), float(row.loss), int(row.complexity))
            for row in model.equations_.itertuples()
        ]
        return self


SYMBOLIC: dict[str, type] = {"operon": OperonSR, "pysr": PySRBackend}


def get_symbolic(name: str, **params) -> SymbolicBackend:
    try:
        return SYMBOLIC[name](**params)
    except KeyError:
        raise ConfigError(f"unknown symbolic backend {name!r}; choose {sorted(SYMBOLIC)}") from None


def expression_terms(expr: sympy.Expr) -> list[str]:
    """The monomials of an expanded expression as term strings (constants dropped)."""
    out = []
    sympy = _sympy()
    for term in sympy.Add.make_args(sympy.expand(expr)):
        _c, rest = term.as_coeff_Mul()
        out.append("1" if rest == 1 else str(rest).replace(" ", ""))
    return out
