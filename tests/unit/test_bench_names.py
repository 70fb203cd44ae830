"""Benchmark modules never shadow the standard library: a benchmark run with bench/ as its working
directory (or on sys.path) would import ours instead — `bench/queue.py` once broke psycopg's import
in the cold-start bench."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def shadowing(names: list[str]) -> list[str]:
    return sorted(name for name in names if name in sys.stdlib_module_names)


def test_no_bench_module_shadows_a_standard_module() -> None:
    offenders = shadowing([path.stem for path in BENCH.glob("*.py")])
    assert not offenders, f"bench/ modules named like standard modules (rename them): {offenders}"


def test_the_rule_fires_on_a_shadowing_name() -> None:
    assert shadowing(["queue", "a2a_queue", "statistics"]) == ["queue", "statistics"]
