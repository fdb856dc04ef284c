"""The help text is generated from the registries and configuration models the code uses, so
its choices and defaults cannot drift from what the command accepts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

BIN = Path(sys.executable).parent / "physforge"


def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}
    run = subprocess.run(
        [str(BIN), *args, "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", run.stdout).split())  # the panels, unwrapped


def _sentence(text: str, lead: str) -> list[str]:
    """The comma-separated names after ``lead`` up to the sentence's full stop."""
    match = re.search(re.escape(lead) + r" (.+?)\.(?: |\[|$)", text)
    assert match, (lead, text)
    return [n.strip() for n in match.group(1).split(",")]


def test_discover_help_lists_every_backend_derivative_and_criterion_with_the_default():
    from physforge.config import DiscoveryConfig, FeatureConfig
    from physforge.discovery.derivatives import derivative_choices
    from physforge.discovery.regression import backend_choices

    text = _help("discover")
    for lead, names, default in [
        ("Regression backend:", backend_choices(), DiscoveryConfig().backend),
        ("Derivatives:", derivative_choices(), FeatureConfig().derivatives),
        (
            "Model selection:",
            list(get_args(DiscoveryConfig.model_fields["criterion"].annotation)),
            DiscoveryConfig().criterion,
        ),
    ]:
        listed = _sentence(text, lead)
        assert listed == [f"{n} (default)" if n == default else n for n in names], listed
        assert f"[default: {default}]" in text
    # what the issue found missing: pareto, ensemble, operon, pysr; all six-plus methods
    assert {"pareto (default)", "ensemble", "operon", "pysr", "poly", "weak"} <= set(
        _sentence(text, "Model selection:")
        + _sentence(text, "Regression backend:")
        + _sentence(text, "Derivatives:")
    )


def test_example_help_lists_every_dataset():
    from physforge.datasets.examples import EXAMPLES

    listed = _sentence(_help("example"), "Example PDE:")
    assert [n.removesuffix(" (default)") for n in listed] == list(EXAMPLES)
    assert "burgers (default)" in listed


def test_train_help_shows_the_configuration_defaults():
    from physforge.config import SurrogateConfig

    text = _help("train")
    cfg = SurrogateConfig()
    for option, value in [
        ("--members", cfg.members),
        ("--steps", cfg.adam_steps),
        ("--lbfgs-steps", cfg.lbfgs_steps),
    ]:
        assert re.search(re.escape(option) + r" .*?\[default: " + str(value) + r"\]", text)
    assert _sentence(text, "Network:") == [
        f"{n} (default)" if n == cfg.network else n
        for n in get_args(SurrogateConfig.model_fields["network"].annotation)
    ]
