"""Training throughput: PhysForge's member training vs plain DeepXDE, and ensemble scaling.

1. The same network (same DeepXDE module, same initial weights) fitted to the same noisy
   Burgers points with full-batch Adam, once through plain ``deepxde.Model.train`` and once
   through ``physforge.pinn.surrogate.fit_member`` (with its store checkpoints on), in this
   process, alternating, best of ``--repeats``. Prints steps/s and PhysForge / DeepXDE.
2. A K-member ensemble through ``train_surrogate`` (Prefect + DaskTaskRunner on the cluster
   PhysForge chooses: LocalCluster here) against K × one member in-process.
3. The GPU path (LocalCUDACluster) when CUDA GPUs are present; otherwise says it was skipped
   and why.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pinn_throughput.py [--steps 1000] [--members 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time

import numpy as np
import torch

# a loaded machine can take longer than Prefect's default 20 s to start its ephemeral API
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import physforge.pinn  # noqa: F401  (DeepXDE backend)
from physforge.compute.cluster import cuda_device_count
from physforge.config import SurrogateConfig
from physforge.datasets.examples import make_example
from physforge.pinn.networks import build_network
from physforge.pinn.surrogate import TrainData, fit_member, network_spec
from physforge.storage_blocks.store import ArtifactStore


def plain_deepxde(data: TrainData, cfg: SurrogateConfig, steps: int) -> float:
    """Seconds for ``steps`` Adam iterations of ``deepxde.Model.train`` (MSE on the data)."""
    import deepxde as dde

    net = build_network(network_spec(data, cfg), seed=cfg.seed)
    x, y = data.x.astype(np.float32), data.y.astype(np.float32)
    dde_data = dde.data.DataSet(X_train=x, y_train=y, X_test=x[:256], y_test=y[:256])
    model = dde.Model(dde_data, net)
    model.compile("adam", lr=cfg.learning_rate, loss="MSE")
    start = time.perf_counter()
    model.train(iterations=steps, display_every=steps, verbose=0)
    return time.perf_counter() - start


def physforge_member(
    data: TrainData, cfg: SurrogateConfig, store: ArtifactStore, prefix: str
) -> float:
    start = time.perf_counter()
    fit_member(data, cfg, store=store, prefix=prefix)
    return time.perf_counter() - start


def dataset_ref(store: ArtifactStore, ds):
    from physforge.refs import DatasetRef

    ds = ds.copy()
    ds.attrs.update(physforge_time="t", physforge_space="x")
    sha = hashlib.sha256(ds.u.values.tobytes() + ds.x.values.tobytes()).hexdigest()
    key = f"datasets/{sha}"
    if not store.is_committed(key):
        with store.transaction(key, meta={"kind": "dataset"}) as tx:
            tx.put_zarr("data.zarr", ds)
    return DatasetRef(
        store=store.url,
        key=key,
        sha256=sha,
        source="burgers-bench",
        dims=["t", "x"],
        fields=["u"],
        shape=list(ds.u.shape),
    )


def ensemble(ds, cfg: SurrogateConfig, root: str) -> tuple[float, dict]:
    """Wall seconds of ``train_surrogate`` (cluster start to committed ensemble) and its card."""
    from prefect import flow

    from physforge.flows.surrogate import train_surrogate

    store = ArtifactStore(f"file://{root}/ensemble-store")
    ref = dataset_ref(store, ds)

    @flow(name="pinn-throughput-warmup")
    def warm() -> None:  # start Prefect's API before timing
        return None

    warm()
    start = time.perf_counter()
    sref = train_surrogate(ref, cfg)
    wall = time.perf_counter() - start
    return wall, store.artifact(sref.key).read_json("card.json")


def gpu_names() -> list[str]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    out = subprocess.run(
        [smi, "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--points", type=int, default=4000)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--members", type=int, default=2)
    p.add_argument("--checkpoint-every", type=int, default=500)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    ds = make_example("burgers", noise=0.05)
    data = TrainData.from_dataset(ds).subsample(a.points, seed=0)
    cfg = SurrogateConfig(
        width=a.width,
        depth=a.depth,
        adam_steps=a.steps,
        lbfgs_steps=0,
        max_points=a.points,
        checkpoint_every=a.checkpoint_every,
        members=a.members,
        n_workers=a.members,
    )
    print(
        f"# PINN training throughput ({platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s))"
    )
    print(
        f"problem: Burgers 5 % noise, {len(data.y)} points, FNN {a.width}x{a.depth} tanh, "
        f"full-batch Adam {a.steps} steps; PhysForge checkpoints every "
        f"{a.checkpoint_every} steps to a file store"
    )
    with tempfile.TemporaryDirectory() as root:
        store = ArtifactStore(f"file://{root}/store")
        plain_deepxde(data, cfg, 50)  # warm-up: imports, allocator
        t_dde, t_pf = [], []
        for r in range(a.repeats):
            t_dde.append(plain_deepxde(data, cfg, a.steps))
            t_pf.append(physforge_member(data, cfg, store, f"bench/run-{r}"))
        sps_dde, sps_pf = a.steps / min(t_dde), a.steps / min(t_pf)
        print(f"plain DeepXDE    : {sps_dde:8.1f} steps/s (best of {a.repeats})")
        print(f"PhysForge member : {sps_pf:8.1f} steps/s (best of {a.repeats})")
        print(f"PhysForge / DeepXDE steps/s: {sps_pf / sps_dde:.3f}  (goal >= 0.95)")

        one = min(t_pf)
        wall, card = ensemble(ds, cfg, root)
        members_wall = card["wall_time_s"]["max_member"]
        print(
            f"ensemble K={a.members} via train_surrogate on {card['cluster']['kind']} "
            f"cluster ({card['cluster']['n_workers']} workers): {wall:.1f} s end to end; "
            f"slowest member {members_wall:.1f} s; K x one member in-process "
            f"{a.members * one:.1f} s"
        )
        print(
            f"ensemble wall / (K x one member): {wall / (a.members * one):.3f} end to end, "
            f"{members_wall / (a.members * one):.3f} training only"
        )

        gpus = cuda_device_count()
        if gpus == 0:
            print(
                "GPU path (LocalCUDACluster): skipped - no CUDA device on this machine "
                "(NVML / nvidia-smi found none); nothing was run or estimated for it"
            )
        else:
            gcfg = cfg.model_copy(update={"n_workers": None, "device": "auto"})
            gwall, gcard = ensemble(ds, gcfg, root + "/gpu")
            print(
                f"GPU path: {gcard['cluster']['kind']} cluster, GPUs {gpu_names()}, devices "
                f"{gcard['devices']}: K={a.members} ensemble {gwall:.1f} s end to end, "
                f"slowest member {gcard['wall_time_s']['max_member']:.1f} s"
            )


if __name__ == "__main__":
    main()
