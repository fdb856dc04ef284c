"""PINN ensemble on Burgers with 5 % noise: denoising ratio, derivative errors, scattered input.

Prints, as relative L2 errors against the clean field and its spectral derivatives:
the noisy data, the ensemble mean, finite differences of the noisy data vs autodiff of the
ensemble for u_x and u_xx, and a member trained on 10 % of the grid's points (random) and
evaluated on the full grid. Runs in one process (members one after another).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pinn_denoise.py [--members 3] [--steps 3000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from physforge.config import SurrogateConfig
from physforge.datasets.examples import make_example
from physforge.pinn.ensemble import SurrogateEnsemble
from physforge.pinn.surrogate import TrainData, fit_member


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def spectral_dx(u: np.ndarray, length: float, order: int) -> np.ndarray:
    k = 2 * np.pi * np.fft.fftfreq(u.shape[1], d=length / u.shape[1])
    return np.fft.ifft((1j * k) ** order * np.fft.fft(u, axis=1), axis=1).real


def periodic_fd(u: np.ndarray, dx: float, order: int) -> np.ndarray:
    if order == 1:
        return (np.roll(u, -1, 1) - np.roll(u, 1, 1)) / (2 * dx)
    return (np.roll(u, -1, 1) - 2 * u + np.roll(u, 1, 1)) / dx**2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000, help="Adam steps")
    p.add_argument("--lbfgs", type=int, default=300, help="L-BFGS steps")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--points", type=int, default=8000, help="training points (of 25,856)")
    p.add_argument("--noise", type=float, default=0.05)
    a = p.parse_args()
    torch.set_num_threads(1)

    clean = make_example("burgers")
    noisy = make_example("burgers", noise=a.noise, seed=0)
    u, un = clean.u.values, noisy.u.values
    x = clean.x.values
    length, dx = 16.0, float(x[1] - x[0])
    t_grid, x_grid = np.meshgrid(clean.t.values, x, indexing="ij")
    pts = {"t": t_grid, "x": x_grid}
    cfg = SurrogateConfig(
        members=a.members,
        width=a.width,
        depth=a.depth,
        adam_steps=a.steps,
        lbfgs_steps=a.lbfgs,
        max_points=a.points,
        checkpoint_every=10**6,
    )

    start = time.perf_counter()
    grid = TrainData.from_dataset(noisy)
    data = grid.subsample(a.points, seed=0)
    fits = [fit_member(data, cfg, m) for m in range(a.members)]
    train_s = time.perf_counter() - start
    ens = SurrogateEnsemble.from_fits(fits, data.coords, data.fields)
    d, sd = ens.derivatives(pts, ["u"], [(), ("x",), ("x", "x")], return_std=True)

    rng = np.random.default_rng(1)
    idx = rng.choice(len(grid.y), len(grid.y) // 10, replace=False)
    scattered = TrainData(grid.coords, grid.fields, grid.x[idx], grid.y[idx])
    s_start = time.perf_counter()
    s_fit = fit_member(scattered, cfg, 0)
    s_mean, _ = SurrogateEnsemble.from_fits([s_fit], grid.coords, grid.fields).predict(pts)
    scattered_s = time.perf_counter() - s_start

    noisy_err, mean_err = rel(un, u), rel(d["u"], u)
    rows = [
        ("u: noisy data", noisy_err),
        (f"u: ensemble mean (K={a.members})", mean_err),
        ("u: denoising ratio (mean / noisy)", mean_err / noisy_err),
        (
            "u_x: finite differences of noisy data",
            rel(periodic_fd(un, dx, 1), spectral_dx(u, length, 1)),
        ),
        ("u_x: ensemble autodiff", rel(d["u_x"], spectral_dx(u, length, 1))),
        (
            "u_xx: finite differences of noisy data",
            rel(periodic_fd(un, dx, 2), spectral_dx(u, length, 2)),
        ),
        ("u_xx: ensemble autodiff", rel(d["u_xx"], spectral_dx(u, length, 2))),
        ("u: scattered 10 % of the grid → full grid (1 member)", rel(s_mean["u"], u)),
    ]
    print(f"# PINN denoising on Burgers ({u.shape[0]}×{u.shape[1]}, noise {a.noise:.0%})")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}, threads {torch.get_num_threads()}; "
        f"net {a.width}x{a.depth} tanh, Adam {a.steps} + L-BFGS {a.lbfgs}, "
        f"{len(data.y)} training points"
    )
    print("| quantity | relative L2 error vs clean / spectral truth |")
    print("|---|---|")
    for name, v in rows:
        print(f"| {name} | {v:.4f} |")
    print(
        f"ensemble spread: mean std(u) = {float(sd['u'].mean()):.4f} "
        f"(field std {float(u.std()):.3f})"
    )
    print(
        f"wall: ensemble {train_s:.0f} s ({a.members} members in sequence), "
        f"scattered member {scattered_s:.0f} s"
    )


if __name__ == "__main__":
    main()
