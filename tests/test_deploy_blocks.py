"""The store blocks without a worker: registration, Secret references, and how
``ArtifactStore()`` finds its URL and credentials through ``$PHYSFORGE_STORE_BLOCK``."""

from __future__ import annotations

import pytest


@pytest.fixture
def fresh_cache():
    from physforge.storage_blocks.registry import store_from_block

    store_from_block.cache_clear()
    yield
    store_from_block.cache_clear()


def test_register_then_the_store_comes_from_the_block(
    prefect_api, s3_server, monkeypatch, fresh_cache
):
    from prefect.blocks.system import Secret

    from physforge.storage_blocks.blocks import register_blocks
    from physforge.storage_blocks.registry import load_store_block
    from physforge.storage_blocks.store import ArtifactStore

    slugs = register_blocks(
        "s3://physforge/from-block",
        name="pf-test-store",
        endpoint_url=s3_server,
        region="us-east-1",
        access_key_id="physforge-test",
        secret_access_key="physforge-secret",
    )
    assert slugs["store"] == "physforge-store/pf-test-store"
    assert slugs["secret_access_key"] == "secret/pf-test-store-secret-access-key"
    assert slugs["results"].startswith("remote-file-system/")
    assert Secret.load("pf-test-store-secret-access-key").get() == "physforge-secret"

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        doc = client.read_block_document_by_name(
            "pf-test-store", "physforge-store", include_secrets=False
        )
    assert set(doc.block_document_references) == {"access_key_id", "secret_access_key"}
    assert "physforge-secret" not in doc.model_dump_json()

    block = load_store_block("pf-test-store")
    opts = block.storage_options()
    assert opts["key"] == "physforge-test" and opts["secret"] == "physforge-secret"
    assert opts["client_kwargs"] == {"endpoint_url": s3_server, "region_name": "us-east-1"}
    assert "physforge-secret" not in repr(block)

    # the worker's view: no credentials or store URL of its own, only the block's name
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PHYSFORGE_S3_ENDPOINT"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("PHYSFORGE_STORE", "/somewhere/else")
    monkeypatch.setenv("PHYSFORGE_STORE_BLOCK", "pf-test-store")
    store = ArtifactStore()
    assert store.url == "s3://physforge/from-block"
    assert store.storage_options["secret"] == "physforge-secret"
    with store.transaction("checks/one") as tx:
        tx.put_json("doc.json", {"ok": True})
    assert ArtifactStore(store.url).artifact("checks/one").read_json("doc.json") == {"ok": True}
    import os

    # the credentials stay in the store object: nothing was put into the environment
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PHYSFORGE_S3_ENDPOINT"):
        assert var not in os.environ
    assert store.block == "pf-test-store"

    # task results on the block's bucket: written and read back (a cache hit) with the
    # block's credentials, which the result-storage block document does not hold
    from prefect import flow, task

    from physforge.storage_blocks.blocks import RESULTS_PREFIX, saved_result_storage

    storage = saved_result_storage(store)
    assert "physforge-secret" not in storage.model_dump_json()
    calls = []

    @task(
        cache_key_fn=lambda *_: "pf-block-credentials-probe",
        persist_result=True,
        result_serializer="json",
    )
    def probe() -> dict:
        calls.append(1)
        return {"ok": 1}

    @flow
    def run() -> dict:
        return probe.with_options(result_storage=storage)()

    assert run() == {"ok": 1} and run() == {"ok": 1}
    assert calls == [1]  # the second run read the persisted result
    assert store.fs.find(store.path(RESULTS_PREFIX))


def test_a_missing_bucket_fails_before_any_block_is_saved(prefect_api, s3_server, fresh_cache):
    from prefect.blocks.system import Secret

    from physforge.errors import StoreError
    from physforge.storage_blocks.blocks import register_blocks

    with pytest.raises(StoreError, match="bucket 'no-such-bucket' does not exist"):
        register_blocks(
            "s3://no-such-bucket/x",
            name="pf-test-missing",
            endpoint_url=s3_server,
            access_key_id="a",
            secret_access_key="b",
        )
    with pytest.raises(ValueError):
        Secret.load("pf-test-missing-access-key-id")


def test_an_unknown_block_names_the_command_to_run(prefect_api, monkeypatch, fresh_cache):
    from physforge.errors import StoreError
    from physforge.storage_blocks.store import ArtifactStore

    monkeypatch.setenv("PHYSFORGE_STORE_BLOCK", "pf-test-never-registered")
    with pytest.raises(StoreError, match="physforge blocks register"):
        ArtifactStore()


def test_half_given_credentials_are_refused(fresh_cache):
    from physforge.errors import ConfigError
    from physforge.storage_blocks.blocks import register_blocks

    with pytest.raises(ConfigError, match="both the access key id and the secret"):
        register_blocks("s3://physforge/x", access_key_id="only-the-id")


def test_register_installs_one_crash_automation(prefect_api, tmp_path):
    """`blocks register` installs the automation that marks a flow run Crashed when its
    heartbeats stop; registering again updates it (one automation, the new window)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    from physforge.errors import ConfigError
    from physforge.storage_blocks.automations import CRASH_AUTOMATION, CRASH_SILENCE_S
    from physforge.storage_blocks.blocks import register_blocks

    slugs = register_blocks(str(tmp_path / "store"), name="pf-crash-test")
    assert slugs["crash automation"] == f"automation/{CRASH_AUTOMATION}"
    with get_client(sync_client=True) as client:
        [auto] = client.read_automations_by_name(CRASH_AUTOMATION)
    assert auto.trigger.within.total_seconds() == CRASH_SILENCE_S == 90
    register_blocks(str(tmp_path / "store"), name="pf-crash-test", crash_after_s=120)
    with get_client(sync_client=True) as client:
        [auto] = client.read_automations_by_name(CRASH_AUTOMATION)
    trigger = auto.trigger
    assert trigger.posture == "Proactive" and trigger.within.total_seconds() == 120
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert trigger.for_each == {"prefect.resource.id"}
    assert auto.actions[0].state == StateType.CRASHED
    with pytest.raises(ConfigError, match="expected at least 35 s"):
        register_blocks(str(tmp_path / "store"), name="pf-crash-test", crash_after_s=10)


def test_every_deployment_sends_heartbeats():
    """The automation needs heartbeats: every deployment's work pool in prefect.yaml sets
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY (30 s, below the 90 s window)."""
    from pathlib import Path

    import yaml

    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
    for dep in doc["deployments"]:
        env = dep["work_pool"]["job_variables"]["env"]
        assert env.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY") == "30", dep["name"]
