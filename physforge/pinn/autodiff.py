"""Derivatives of a network's outputs by automatic differentiation, any multi-index up to 4th order.

A derivative is named as in the result grammar (``physforge.discovery.terms.derivative_name``):
the field, ``_``, then the coordinate letters (``u``, ``u_x``, ``u_xx``, ``u_xt``). Internally a
derivative is ``(field, axes)`` with ``axes`` sorted in coordinate order (mixed partials commute),
and every intermediate derivative is computed once and shared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from physforge.errors import ConfigError

__all__ = ["MAX_ORDER", "derivative_key", "parse_derivative", "derivative_name", "autodiff"]

MAX_ORDER = 4
DerivKey = tuple[str, tuple[str, ...]]


def derivative_name(field: str, axes: Sequence[str]) -> str:
    """``("u", ("x", "x"))`` → ``u_xx`` (the grammar of ``physforge.discovery.terms``)."""
    return field if not axes else f"{field}_{''.join(axes)}"


def derivative_key(field: str, axes: Sequence[str], coords: Sequence[str]) -> DerivKey:
    """Canonical ``(field, axes)``: axes checked against ``coords`` and sorted in their order."""
    order = {c: i for i, c in enumerate(coords)}
    for a in axes:
        if a not in order:
            raise ConfigError(
                f"derivative of {field!r} along {a!r}: not a coordinate; coordinates are "
                f"{list(coords)}"
            )
    if len(axes) > MAX_ORDER:
        raise ConfigError(
            f"derivative of {field!r} along {tuple(axes)} has order {len(axes)}; at most "
            f"{MAX_ORDER} is supported"
        )
    return field, tuple(sorted(axes, key=order.__getitem__))


def parse_derivative(name: str, fields: Sequence[str], coords: Sequence[str]) -> DerivKey:
    """``u_xx`` → ``("u", ("x", "x"))``; coordinates must be single letters to be named so."""
    field, _, letters = name.partition("_")
    if field not in fields:
        raise ConfigError(f"{name!r}: unknown field {field!r}; fields are {list(fields)}")
    multi = [c for c in coords if len(c) != 1]
    if letters and multi:
        raise ConfigError(
            f"{name!r}: derivatives are named by single-letter coordinates, but {multi} are not; "
            "pass axes as tuples instead"
        )
    return derivative_key(field, tuple(letters), coords)


def autodiff(
    net: torch.nn.Module,
    x: torch.Tensor,
    wanted: Iterable[DerivKey],
    coords: Sequence[str],
    fields: Sequence[str],
    *,
    create_graph: bool = False,
    outputs: torch.Tensor | None = None,
) -> dict[DerivKey, torch.Tensor]:
    """Values and derivatives of ``net`` at ``x`` (n × len(coords), ``requires_grad``).

    Returns ``{(field, axes): tensor of shape (n,)}`` for each wanted key (and the
    intermediates computed on the way). ``create_graph=True`` keeps the graph so the results
    can enter a loss; otherwise results are detached.
    """
    if not x.requires_grad:
        raise ValueError("autodiff needs inputs with requires_grad=True")
    y = net(x) if outputs is None else outputs
    cache: dict[DerivKey, torch.Tensor] = {(f, ()): y[:, j] for j, f in enumerate(fields)}
    wanted = list(wanted)
    max_order = max((len(a) for _, a in wanted), default=0)

    def get(key: DerivKey) -> torch.Tensor:
        if key in cache:
            return cache[key]
        field, axes = key
        parent = get((field, axes[:-1]))
        # one backward pass gives the derivative of the parent along every coordinate
        last = len(axes) == max_order and not create_graph
        grads = torch.autograd.grad(
            parent.sum(), x, create_graph=not last or create_graph, retain_graph=True
        )[0]
        for i, c in enumerate(coords):
            child = derivative_key(field, (*axes[:-1], c), coords)
            cache.setdefault(child, grads[:, i])
        return cache[key]

    out = {key: get(key) for key in wanted}
    if not create_graph:
        out = {k: v.detach() for k, v in out.items()}
    return out
