"""Forward-problem specs: every example validates; invalid specs are refused naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from physforge.errors import ConfigError
from physforge.pinn.problems import PROBLEMS, load_spec
from physforge.pinn.solve import choose_plan

SPECS = sorted((Path(__file__).resolve().parents[1] / "examples" / "specs").glob("*.yaml"))


def _yaml(name: str) -> dict:
    return yaml.safe_load((SPECS[0].parent / f"{name}.yaml").read_text())


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_example_specs_validate_and_get_a_plan_with_reasons(path):
    spec = load_spec(path)
    assert spec.problem in PROBLEMS
    plan, reasons, _ = choose_plan(spec)
    for name in (
        "width",
        "depth",
        "activation",
        "fourier_features",
        "rar",
        "loss_weights",
        "adam_steps",
        "lbfgs_steps",
        "hard_constraints",
    ):
        assert reasons[name], name
    assert plan.adam_steps > 0 and plan.lbfgs_steps > 0


def test_every_family_has_an_example():
    assert {load_spec(p).problem for p in SPECS} == set(PROBLEMS)


def _refused(doc: dict, *fields: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_spec(doc)
    msg = str(info.value)
    for f in fields:
        assert f in msg, msg
    return msg


def test_unknown_domain_is_refused_naming_domain():
    doc = _yaml("heat_1d")
    doc["domain"] = {"shape": "hexagon", "x": [0, 1]}
    msg = _refused(doc, "domain", "hexagon")
    assert "interval" in msg and "rectangle" in msg


def test_missing_boundary_is_refused_naming_the_side():
    doc = _yaml("heat_2d")
    del doc["boundary"]["top"]
    _refused(doc, "boundary.top", "missing")


def test_negative_viscosity_is_refused_naming_the_coefficient():
    doc = _yaml("burgers")
    doc["coefficients"]["viscosity"] = -0.01
    _refused(doc, "coefficients.viscosity", "greater than 0", "-0.01")
    flow = _yaml("cavity")
    flow["coefficients"]["viscosity"] = -1
    _refused(flow, "coefficients.viscosity")


@pytest.mark.parametrize("case", ["domain", "modes", "boundary_value"])
def test_mismatched_dimensions_are_refused(case):
    if case == "domain":  # a 2-D heat problem on an interval
        doc = _yaml("heat_1d")
        doc["dimension"] = 2
        _refused(doc, "domain", "dimension 2", "interval")
    elif case == "modes":  # a 2-D mode number on a 1-D domain
        doc = _yaml("wave_1d")
        doc["initial"]["modes"] = [[1, 2], [4]]
        _refused(doc, "initial.modes[0]", "found 2")
    else:  # one lid velocity component for a 2-component flow
        doc = _yaml("cavity")
        doc["boundary"]["top"]["value"] = [1.0]
        _refused(doc, "boundary.top.value", "expected 2")


def test_other_refusals_name_their_field():
    doc = _yaml("heat_1d")
    _refused({**doc, "problem": "plasma"}, "problem", "plasma")
    _refused({**doc, "time": [1.0, 0.0]}, "time")
    _refused({**doc, "unknown_key": 1}, "unknown_key")
    cav = copy.deepcopy(_yaml("cavity"))
    cav["boundary"]["top"]["value"] = "exact"
    _refused(cav, "boundary.top.value", "exact")
    bad = _yaml("elasticity")
    bad["coefficients"]["poisson_ratio"] = 0.7
    _refused(bad, "coefficients.poisson_ratio")


def test_yaml_errors_and_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("problem: [heat\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(broken)


def test_overrides_win_and_are_recorded():
    doc = _yaml("wave_1d")
    doc["architecture"] = {"width": 20, "fourier_features": False}
    doc["training"] = {"adam_steps": 123}
    plan, reasons, _ = choose_plan(load_spec(doc))
    assert (plan.width, plan.fourier_features, plan.adam_steps) == (20, False, 123)
    assert reasons["width"].startswith("set in the spec")


def test_time_saturation_is_chosen_for_many_periods_and_refused_without_u_tt():
    plan, reasons, _ = choose_plan(load_spec(_yaml("wave_1d")))  # 4 periods of the fast mode
    assert plan.time_saturation == pytest.approx((8 * np.pi) ** 2 / 2)
    assert "saturates" in reasons["time_saturation"]
    assert choose_plan(load_spec(_yaml("wave_2d")))[0].time_saturation == 0.0  # < 1 period
    doc = _yaml("heat_1d")
    doc["architecture"] = {"time_saturation": 10.0}
    with pytest.raises(ConfigError, match="architecture.time_saturation"):
        choose_plan(load_spec(doc))


def test_cavity_points_cluster_at_the_lid_corners_inside_the_box():
    from physforge.pinn.problems import family
    from physforge.pinn.solve import corner_points

    spec = load_spec(_yaml("cavity"))
    corners = family(spec).traits(spec).singular_points
    assert corners == [(0.0, 1.0), (1.0, 1.0)]
    pts = corner_points(spec, corners, 1000)
    assert pts.shape == (1000, 2) and (pts >= 0).all() and (pts <= 1).all()
    dist = np.min([np.hypot(*(pts - c).T) for c in corners], axis=0)
    assert dist.max() <= 0.2 * np.sqrt(2) + 1e-12
    assert (dist < 0.05).mean() > 0.05  # uniform points: 2 · π · 0.05² / 4 = 0.4 %
    doc = _yaml("cavity")
    doc["training"] = {"n_corner": 300}
    assert choose_plan(load_spec(doc))[0].n_corner == 300
    assert choose_plan(load_spec(_yaml("kovasznay")))[0].n_corner == 0


def test_parabolic_lid_is_pinnacles_cavity_without_singular_corners():
    import deepxde as dde

    from physforge.pinn.problems import family
    from physforge.pinn.problems.base import geometry
    from physforge.pinn.problems.navier_stokes import cavity_reference
    from physforge.pinn.solve import grid

    spec = load_spec(_yaml("cavity_pinnacle"))
    fam = family(spec)
    assert fam.traits(spec).singular_points == []  # the lid's speed is 0 at the corners
    lid_u = next(
        bc
        for bc in fam.conditions(spec, geometry(spec))
        if isinstance(bc, dde.icbc.DirichletBC)
        and bc.component == 0
        and bc.on_boundary(np.array([[0.5, 1.0]]), np.array([True]))[0]
    )
    xs = np.array([[0.0, 1.0], [0.25, 1.0], [0.5, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(lid_u.func(xs, 0, len(xs), None).ravel(), [0.0, 0.75, 1.0, 0.0])
    x, _, u, v = cavity_reference(33, 0.01, profile="parabolic")
    np.testing.assert_allclose(u[-1], 4 * x * (1 - x))  # the lid row
    assert u[:, 16].min() < -0.1 and v.max() > 0.1  # a primary vortex, not a still fluid
    # the same problem's reference by the family: its top row is the lid
    _, _, points = grid(spec)
    top = points[:, 1] == 1.0
    ref = fam.reference(spec, points)
    np.testing.assert_allclose(ref[top, 0], 4 * points[top, 0] * (1 - points[top, 0]), atol=1e-12)


def test_a_lid_profile_is_refused_where_it_means_nothing():
    doc = _yaml("heat_1d")
    doc["boundary"]["left"]["profile"] = "parabolic"
    _refused(doc, "boundary.left.profile", "navier_stokes only")
    cav = _yaml("kovasznay")
    cav["boundary"]["top"] = {"value": "exact", "profile": "parabolic"}
    _refused(cav, "boundary.top.profile", "exact")
    bad = _yaml("cavity")
    bad["boundary"]["top"]["profile"] = "cubic"
    _refused(bad, "boundary.top.profile")
