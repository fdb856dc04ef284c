"""Active experiment design: propose the next measurements that settle the equation fastest.

``candidates`` (quasi-random designs inside bounds, outside forbidden regions), ``acquisitions``
(what a measurement is worth: surrogate spread, model discrimination, equation information,
GP expected information gain), ``batch`` (batches that do not cluster), ``table`` (the
validated proposal table), ``oracle`` (simulators that answer measurements), ``solver``
(forward integration of candidate equations) and ``loop`` (discover → propose → measure →
ingest). Plain functions and classes: no Prefect here.
"""

from physforge.discovery.design.acquisitions import ACQUISITIONS, DesignContext, get_acquisition
from physforge.discovery.design.candidates import Box, DesignSpace, candidate_designs
from physforge.discovery.design.loop import LoopResult, propose, run_loop
from physforge.discovery.design.oracle import WindowOracle

__all__ = [
    "ACQUISITIONS",
    "DesignContext",
    "get_acquisition",
    "Box",
    "DesignSpace",
    "candidate_designs",
    "LoopResult",
    "propose",
    "run_loop",
    "WindowOracle",
]
