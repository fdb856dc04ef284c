"""The shared mechanisms: memoised artifacts, the one equation grammar, the loop driver, and
science that leaves numpy's global generator alone."""

from __future__ import annotations

import numpy as np
import pytest

from physforge.errors import ConfigError
from physforge.storage_blocks.store import ArtifactStore, artifact_key


def test_computed_writes_once_and_keys_by_the_parts(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}/store")
    calls = []

    def write(tx):
        calls.append(1)
        tx.meta["rows"] = 3
        tx.put_json("doc.json", {"n": len(calls)})

    first = store.computed("things", ["sha-a", {"b": 1, "a": 2}, "v1"], write, {"kind": "thing"})
    again = store.computed("things", ["sha-a", {"a": 2, "b": 1}, "v1"], write, {"kind": "thing"})
    assert calls == [1] and first.prefix == again.prefix == artifact_key(
        "things", ["sha-a", {"a": 2, "b": 1}, "v1"]
    )
    assert again.meta == {"kind": "thing", "rows": 3} and again.read_json("doc.json") == {"n": 1}
    other = store.computed("things", ["sha-a", {"a": 2, "b": 1}, "v2"], write)
    assert other.prefix != first.prefix and calls == [1, 1]
    forced = store.computed("things", ["sha-a", {"a": 2, "b": 1}, "v1"], write, force=True)
    assert forced.read_json("doc.json") == {"n": 3}
    # a content address is used as it is
    assert store.computed("datasets", "abc123", write).prefix == "datasets/abc123"


def test_a_failed_write_commits_nothing(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}/store")

    def write(tx):
        tx.put_json("part.json", {})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.computed("things", ["x"], write)
    assert not store.is_committed(artifact_key("things", ["x"])) and store.list("things") == []


def test_one_equation_grammar():
    from physforge.discovery.benchmark import score_case
    from physforge.discovery.terms import parse_equation
    from physforge.pinn.surrogate import parse_pde

    assert parse_equation("u_t = -1.0*u*u_x + 0.1*u_xx; v_t = u_x*u - 2*(u + 1)") == {
        "u_t": {"u*u_x": -1.0, "u_xx": 0.1},
        "v_t": {"u*u_x": 1.0, "u": -2.0, "1": -2.0},
    }
    lhs, terms, coefs = parse_pde("u_t = 0.1*u_xx - u_x*u", ["u"], ["t", "x"])
    assert lhs == ["u_t"] and terms == ["u*u_x", "u_xx"] and coefs.tolist() == [[-1.0, 0.1]]
    with pytest.raises(ConfigError, match=r"pde 'u_t 0.1\*u_xx': expected 'lhs = rhs'"):
        parse_pde("u_t 0.1*u_xx", ["u"], ["t", "x"])
    truth = "u_t = -1.0*u*u_x + 0.1*u_xx"
    found = [{"lhs": "u_t", "terms": {"u_x*u": -0.98, "u_xx": 0.1}}]
    score = score_case(truth, found)
    assert score["recovered"] and score["max_rel_coef_error"] == pytest.approx(0.02)
    missed = score_case(truth, [{"lhs": "u_t", "terms": {"u_xx": 0.1}}])
    assert missed == {"recovered": False, "max_rel_coef_error": None}


def test_the_loop_driver_stops_on_the_rule_or_the_budget():
    from physforge.discovery.design.loop import drive, stop_rule

    assert stop_rule([(False, "a"), (True, "a"), (True, "a")], 2)
    assert not stop_rule([(True, "b"), (True, "a")], 2) and not stop_rule([(True, "a")], 2)
    seen = []

    def extend(data, round_, added):
        return data + [round_], 2

    data, why = drive([], lambda d, r, a: seen.append((r, a)) or False, extend, budget=5)
    assert why == "budget" and data == [0, 1, 2] and seen == [(0, 0), (1, 2), (2, 4), (3, 6)]
    data, why = drive([], lambda d, r, a: r == 1, extend, budget=5)
    assert why == "threshold" and data == [0]


def test_ensemble_regression_leaves_the_global_generator_alone():
    from physforge.discovery.regression import EnsembleRegressor

    rng = np.random.default_rng(3)
    theta = rng.standard_normal((200, 4))
    y = theta @ np.array([1.5, 0.0, -0.7, 0.0]) + 0.01 * rng.standard_normal(200)
    np.random.seed(12345)
    before = np.random.get_state()[1].copy()
    a = EnsembleRegressor(seed=7).fit(theta, y)
    b = EnsembleRegressor(seed=7).fit(theta, y)
    assert np.array_equal(np.random.get_state()[1], before)
    assert np.array_equal(a.coef_, b.coef_) and list(np.nonzero(a.coef_)[0]) == [0, 2]
    assert np.allclose(a.coef_[[0, 2]], [1.5, -0.7], atol=0.01)
