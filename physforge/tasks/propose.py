"""Tasks of active experiment design: measure (against a simulator oracle), ingest the new
windows, discover on all of them, and propose the next batch (a ProposalRef).

Each is a thin wrapper over :mod:`physforge.discovery.design`: resolve refs, call the science,
write artifacts through one store transaction, return a ref.
"""

from __future__ import annotations

import io

import numpy as np
from prefect import task
from prefect.artifacts import create_table_artifact

from physforge.config import LoopConfig, ProposalConfig
from physforge.datasets.ingest import open_dataset, store_dataset
from physforge.discovery.design.acquisitions import DesignContext
from physforge.discovery.design.loop import (
    best_model,
    confident,
    discover_measurements,
    initial_points,
    make_oracle,
    oracle_space,
    propose,
    structure,
)
from physforge.refs import MeasurementsRef, ProposalRef, Ref, WindowDiscoveryRef
from physforge.storage_blocks.store import ArtifactStore, Transaction, open_ref
from physforge.tasks.common import code_version, task_defaults

__all__ = ["measure", "ingest_measurements", "discover_windows", "propose_task"]


def _measurements_ref(store: ArtifactStore, datasets: list, points: list) -> MeasurementsRef:
    def write(tx: Transaction) -> None:
        tx.put_json(
            "manifest.json",
            {"datasets": [d.model_dump(mode="json") for d in datasets], "points": points},
        )

    art = store.computed(
        "measurements",
        [[d.sha256 for d in datasets], points, code_version()],
        write,
        meta={"kind": "measurements"},
    )
    return MeasurementsRef(
        store=store.url, key=art.prefix, sha256=art.sha256, datasets=datasets, points=points
    )


@task(name="measure", **task_defaults())
def measure(
    setup: LoopConfig, proposal: ProposalRef | None, round_: int, store_url: str
) -> MeasurementsRef:
    """Run the proposed measurements on the oracle (``proposal=None``: the random start);
    every window is stored as a canonical dataset."""
    store = ArtifactStore(store_url)
    oracle = make_oracle(setup, round_)
    if proposal is None:
        points = initial_points(oracle_space(oracle, setup), setup)
    else:
        table = open_ref(proposal).open_zarr("table.zarr").load()
        points = np.stack([table[d].values for d in proposal.dims], axis=1)
    refs = []
    for ds in oracle.measure(points):
        refs.append(store_dataset(store, ds, ds.attrs["physforge_source"]))
    return _measurements_ref(store, refs, np.asarray(points, dtype=float).tolist())


@task(name="ingest_measurements", **task_defaults())
def ingest_measurements(previous: MeasurementsRef | None, new: MeasurementsRef) -> MeasurementsRef:
    """All windows so far: the previous set with the new windows appended."""
    store = ArtifactStore(new.store)
    if previous is None:
        return new
    return _measurements_ref(
        store, [*previous.datasets, *new.datasets], [*previous.points, *new.points]
    )


@task(name="discover_windows", **task_defaults())
def discover_windows(measurements: MeasurementsRef, setup: LoopConfig) -> WindowDiscoveryRef:
    """Weak-form discovery on every window at once; the result JSON in the store."""
    store = ArtifactStore(measurements.store)
    cfg = setup.model_dump(mode="json")

    def write(tx: Transaction) -> None:
        equations = discover_measurements([open_dataset(d) for d in measurements.datasets], setup)
        tx.put_json(
            "result.json",
            {
                "measurements": {
                    "uri": measurements.uri,
                    "sha256": measurements.sha256,
                    "windows": len(measurements.datasets),
                },
                "config": cfg,
                "equations": equations,
            },
        )

    art = store.computed(
        "discoveries", [measurements.sha256, cfg, code_version()], write, meta={"kind": "discovery"}
    )
    equations = art.read_json("result.json")["equations"]
    best = best_model(equations)
    incl = [
        eq.get("inclusion_probability", {}).get(t, 0.0) for eq in best.values() for t in eq["terms"]
    ]
    return WindowDiscoveryRef(
        store=store.url,
        key=art.prefix,
        sha256=art.sha256,
        measurements=measurements,
        config=cfg,
        best={lhs: eq["rhs"] for lhs, eq in best.items()},
        structure=[[lhs, *terms] for lhs, terms in structure(equations)],
        confident=confident(equations, setup.threshold),
        min_inclusion=min(incl, default=0.0),
    )


@task(name="propose", **task_defaults())
def propose_task(
    measurements: MeasurementsRef,
    discovery: Ref,
    config: ProposalConfig,
    setup: LoopConfig,
    used: int = 0,
    round_: int = 0,
) -> ProposalRef:
    """The next batch: a pandera-validated table under ``proposals/<key>/`` as Zarr and CSV,
    shown as a Prefect table artifact. ``discovery`` is any ref whose artifact holds a
    ``result.json`` with ranked ``equations``."""
    store = ArtifactStore(measurements.store)
    cfg = config.model_dump(mode="json")
    oracle = make_oracle(setup, round_)
    space = oracle_space(oracle, setup.model_copy(update={"proposal": config}))

    def write(tx: Transaction) -> None:
        equations = open_ref(discovery).read_json("result.json")["equations"]
        context = DesignContext(
            space,
            [open_dataset(d) for d in measurements.datasets],
            equations,
            oracle.initial_state(),
            oracle.times(),
            oracle.noise_sigma,
        )
        table = propose(
            context,
            config,
            np.array(measurements.points),
            used=used,
            seed=config.seed + 1000 * (round_ + 1),
            poly_degree=setup.poly_degree,
            derivative_order=setup.derivative_order,
            support=setup.support,
        )
        csv = io.StringIO()
        table.to_csv(csv, index=False)
        tx.meta["rows"] = len(table)
        tx.put_zarr("table.zarr", table.set_index("rank").to_xarray())
        tx.put_bytes("table.csv", csv.getvalue().encode())
        create_table_artifact(
            table.to_dict("records"),
            key="physforge-proposals",
            description=f"Proposed measurements ({config.acquisition}), round {round_}",
        )

    art = store.computed(
        "proposals",
        [
            measurements.sha256,
            discovery.sha256,
            cfg,
            setup.model_dump(mode="json"),
            used,
            round_,
            code_version(),
        ],
        write,
        meta={"kind": "proposals"},
    )
    return ProposalRef(
        store=store.url,
        key=art.prefix,
        sha256=art.sha256,
        config=cfg,
        inputs=[measurements.sha256, discovery.sha256],
        rows=int(art.meta.get("rows", 0)),
        dims=space.dims,
    )
