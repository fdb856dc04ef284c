"""Network builders on DeepXDE's PyTorch backend: FNN, residual and Fourier-feature variants.

Every network is a ``deepxde.nn.pytorch`` ``NN`` with DeepXDE's own input (feature) and output
transforms carrying the normalisation, so the module that trains here is the module plain
DeepXDE would train, and its ``state_dict`` holds everything needed to rebuild it (weights,
normalisation constants, Fourier matrix). Build with :func:`build_network`; rebuild a saved one
with the same :class:`NetworkSpec` and ``load_state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch

import physforge.pinn  # noqa: F401  (selects DeepXDE's PyTorch backend before import)
from physforge.errors import ConfigError

__all__ = [
    "NetworkSpec",
    "NETWORK_KINDS",
    "build_network",
    "Normalize",
    "FourierFeatures",
    "Denormalize",
    "ResidualFNN",
]

NetworkKind = Literal["fnn", "resnet", "fourier"]
NETWORK_KINDS: tuple[str, ...] = ("fnn", "resnet", "fourier")


@dataclass(frozen=True)
class NetworkSpec:
    """What a network is: enough to rebuild it before ``load_state_dict``.

    ``in_mean``/``in_scale`` and ``out_mean``/``out_scale`` are the affine normalisation of the
    inputs and outputs (defaults: identity); they are buffers of the built module.
    """

    in_dim: int
    out_dim: int
    width: int = 64
    depth: int = 4
    kind: NetworkKind = "fnn"
    activation: str = "tanh"
    initializer: str = "Glorot normal"
    fourier_features: int = 32
    fourier_sigma: float = 1.0
    in_mean: tuple[float, ...] | None = None
    in_scale: tuple[float, ...] | None = None
    out_mean: tuple[float, ...] | None = None
    out_scale: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NetworkSpec:
        doc = dict(doc)
        for k in ("in_mean", "in_scale", "out_mean", "out_scale"):
            if doc.get(k) is not None:
                doc[k] = tuple(float(v) for v in doc[k])
        return cls(**doc)


def _vec(values: Sequence[float] | None, n: int, default: float) -> torch.Tensor:
    from deepxde import config as dde_config

    arr = np.full(n, default) if values is None else np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ConfigError(f"normalisation vector has shape {arr.shape}, expected ({n},)")
    return torch.as_tensor(arr, dtype=dde_config.real(torch))


class Normalize(torch.nn.Module):
    """``(x - mean) / scale``; the constants are buffers, so they live in the state_dict."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class FourierFeatures(torch.nn.Module):
    """Random Fourier features ``[sin(2π x B), cos(2π x B)]``, ``B ~ N(0, σ²)`` (Tancik et al.)."""

    def __init__(self, in_dim: int, n_features: int, sigma: float, generator: torch.Generator):
        super().__init__()
        from deepxde import config as dde_config

        b = torch.randn(in_dim, n_features, generator=generator, dtype=torch.float64) * sigma
        self.register_buffer("B", b.to(dde_config.real(torch)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = 2.0 * math.pi * x @ self.B
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


class Denormalize(torch.nn.Module):
    """DeepXDE output transform ``(inputs, outputs) -> outputs * scale + mean``."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        return outputs * self.scale + self.mean


def _resnet_class():
    from deepxde.nn import activations, initializers
    from deepxde.nn.pytorch.nn import NN

    class _ResidualFNN(NN):
        """Residual MLP on DeepXDE's ``NN`` base: a lift, ``depth`` blocks of two layers with
        a skip connection, and a linear head. Honours DeepXDE's feature/output transforms."""

        def __init__(
            self,
            in_dim: int,
            out_dim: int,
            width: int,
            depth: int,
            activation: str,
            initializer: str,
        ):
            super().__init__()
            from deepxde import config as dde_config

            dtype = dde_config.real(torch)
            self.activation = activations.get(activation)
            init, zeros = initializers.get(initializer), initializers.get("zeros")

            def linear(a: int, b: int) -> torch.nn.Linear:
                layer = torch.nn.Linear(a, b, dtype=dtype)
                init(layer.weight)
                zeros(layer.bias)
                return layer

            self.lift = linear(in_dim, width)
            self.blocks = torch.nn.ModuleList(
                torch.nn.ModuleList([linear(width, width), linear(width, width)])
                for _ in range(depth)
            )
            self.head = linear(width, out_dim)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            x = inputs
            if self._input_transform is not None:
                x = self._input_transform(x)
            h = self.activation(self.lift(x))
            for first, second in self.blocks:
                h = h + second(self.activation(first(h)))
                h = self.activation(h)
            y = self.head(h)
            if self._output_transform is not None:
                y = self._output_transform(inputs, y)
            return y

    return _ResidualFNN


def ResidualFNN(
    in_dim: int,
    out_dim: int,
    width: int,
    depth: int,
    activation: str = "tanh",
    initializer: str = "Glorot normal",
):
    """A residual MLP (DeepXDE ``NN`` subclass); see :func:`build_network`."""
    return _resnet_class()(in_dim, out_dim, width, depth, activation, initializer)


def build_network(spec: NetworkSpec, seed: int = 0):
    """A DeepXDE network for ``spec``, initialised reproducibly from ``seed``.

    ``kind``: ``fnn`` (``deepxde.nn.FNN``, ``depth`` hidden layers of ``width``), ``resnet``
    (residual blocks) or ``fourier`` (an FNN on random Fourier features of the normalised
    inputs). Inputs are normalised and outputs de-normalised inside the module, so autograd
    derivatives are with respect to the raw coordinates.
    """
    from deepxde.nn.pytorch import FNN

    if spec.kind not in NETWORK_KINDS:
        raise ConfigError(
            f"network kind {spec.kind!r} is unknown; choose one of {', '.join(NETWORK_KINDS)}"
        )
    if spec.width < 1 or spec.depth < 1:
        raise ConfigError(f"network width and depth must be >= 1, got {spec.width}x{spec.depth}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 7919)
    feature: torch.nn.Module = Normalize(
        _vec(spec.in_mean, spec.in_dim, 0.0), _vec(spec.in_scale, spec.in_dim, 1.0)
    )
    first = spec.in_dim
    if spec.kind == "fourier":
        feature = torch.nn.Sequential(
            feature, FourierFeatures(spec.in_dim, spec.fourier_features, spec.fourier_sigma, gen)
        )
        first = 2 * spec.fourier_features
    if spec.kind == "resnet":
        net = ResidualFNN(
            first, spec.out_dim, spec.width, spec.depth, spec.activation, spec.initializer
        )
    else:
        sizes = [first] + [spec.width] * spec.depth + [spec.out_dim]
        net = FNN(sizes, spec.activation, spec.initializer)
    net.apply_feature_transform(feature)
    net.apply_output_transform(
        Denormalize(_vec(spec.out_mean, spec.out_dim, 0.0), _vec(spec.out_scale, spec.out_dim, 1.0))
    )
    return net
