"""Cold start: the time to import each function's handler module in a fresh interpreter, against
the floor — importing the libraries every HTTP function needs anyway (Powertools' event handler,
psycopg, pydantic) in a fresh interpreter. Targets and floor run interleaved, in a shuffled order
each round, so machine noise hits them alike; each figure is the median over the rounds.

Target: every HTTP function ≤ 1.3× the floor, with boto3 never imported (SPEC §2: boto3 only on
the code paths that talk to AWS). A function over the target gets its top import costs beyond the
floor from `python -X importtime`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from molecule_local.template import REPO_ROOT, FunctionSpec, default_template

from bench import print_table

FLOOR_MODULES = ("aws_lambda_powertools.event_handler", "psycopg", "pydantic")
TARGET_RATIO = 1.3
DEFAULT_ROUNDS = 7
IMPORTTIME_RUNS = 3
TOP_OFFENDERS = 5

# Written to stderr right before the timer starts, so `-X importtime` output can be cut there.
_START_MARKER = "-- timer starts --"
# Runs in the fresh interpreter: load the handler module by file path, as the Lambda runtime does
# (or import the floor's modules), and report the time and whether boto3 came along.
_PROBE = """
import importlib, importlib.util, json, sys, time
kind, target, handler = sys.argv[1:4]
print(START_MARKER, file=sys.stderr, flush=True)
start = time.perf_counter()
if kind == "modules":
    for name in target.split(","):
        importlib.import_module(name)
else:
    spec = importlib.util.spec_from_file_location("lambda_function", target)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    getattr(module, handler)
elapsed_ms = (time.perf_counter() - start) * 1000
print(json.dumps({"ms": elapsed_ms, "boto3": "boto3" in sys.modules}))
""".replace("START_MARKER", repr(_START_MARKER))

# Platform settings that must not leak from the caller's shell into the measured interpreters.
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "ADMIN_TOKEN",
    "ADMIN_TOKEN_SECRET_ARN",
    "MOLECULE_ENABLE_TEST_TOKENS",
    "PROVISIONER_BACKEND",
    "MOLECULE_SAAS_MODE",
    "PYTHONPROFILEIMPORTTIME",
)


@dataclass(frozen=True)
class Target:
    name: str
    argv: tuple[str, str, str]  # kind, target, handler name
    cwd: Path
    spec: FunctionSpec | None = None  # None for the floor

    @property
    def is_http(self) -> bool:
        return self.spec is not None and bool(self.spec.routes)


@dataclass
class Sample:
    ms: float
    boto3: bool


def probe_env() -> dict[str, str]:
    """Lambda's view: MOLECULE_ENV=test, Powertools names set, no database configured (a module
    that connects at import would fail here, as it must)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(
        MOLECULE_ENV="test",
        POWERTOOLS_SERVICE_NAME="molecule",
        POWERTOOLS_METRICS_NAMESPACE="Molecule",
    )
    return env


def floor_target() -> Target:
    return Target("floor: " + ", ".join(FLOOR_MODULES), ("modules", ",".join(FLOOR_MODULES), ""), REPO_ROOT)


def function_targets() -> list[Target]:
    return [
        # The runtime's working directory (LAMBDA_TASK_ROOT) is the function's CodeUri.
        Target(spec.logical_id, ("file", str(spec.module_path), spec.handler_name), REPO_ROOT / spec.code_uri, spec)
        for spec in default_template().functions.values()
    ]


def run_probe(target: Target, env: dict[str, str], *flags: str) -> tuple[Sample, str]:
    completed = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, *target.argv],
        cwd=target.cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{target.name}: import failed\n{completed.stderr.strip()}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(float(result["ms"]), bool(result["boto3"])), completed.stderr


def measure(targets: list[Target], rounds: int, env: dict[str, str]) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = defaultdict(list)
    order = list(targets)
    shuffler = random.Random(20240601)
    for round_index in range(rounds + 1):
        shuffler.shuffle(order)
        for target in order:
            sample, _ = run_probe(target, env)
            if round_index:  # round 0 warms the bytecode caches and the OS page cache
                samples[target.name].append(sample)
    return samples


def _parse_importtime(stderr: str, *, timed_only: bool = True) -> tuple[dict[str, int], int]:
    """Self time (µs) per imported module (by default only those imported while the timer ran),
    and the cumulative time of the top-level imports among them."""
    self_us: dict[str, int] = {}
    top_level_us = 0
    lines = stderr.splitlines()
    if timed_only and _START_MARKER in lines:
        lines = lines[lines.index(_START_MARKER) + 1 :]
    for line in lines:
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        module = name.strip()
        self_us[module] = int(own)
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: one space after the bar
            top_level_us += int(cumulative)
    return self_us, top_level_us


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def import_offenders(target: Target, floor: Target, env: dict[str, str]) -> list[tuple[str, float]]:
    """Where the time beyond the floor goes: self time of the modules the floor does not import,
    summed per package (two dotted levels), plus the handler module's own body (resolver and
    route set-up run at import). Medians over a few `-X importtime` runs, in ms."""
    floor_modules: set[str] = set()
    for _ in range(IMPORTTIME_RUNS):
        _, stderr = run_probe(floor, env, "-X", "importtime")
        floor_modules |= set(_parse_importtime(stderr, timed_only=False)[0])
    body = f"{target.name} handler module body"
    runs: list[dict[str, float]] = []
    for _ in range(IMPORTTIME_RUNS):
        sample, stderr = run_probe(target, env, "-X", "importtime")
        self_us, top_level_us = _parse_importtime(stderr)
        totals: dict[str, float] = defaultdict(float)
        for module, micros in self_us.items():
            if module not in floor_modules:
                totals[_package(module)] += micros / 1000
        totals[body] = max(0.0, sample.ms - top_level_us / 1000)
        runs.append(totals)
    medians = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in set().union(*runs)}
    return sorted(medians.items(), key=lambda item: item[1], reverse=True)[:TOP_OFFENDERS]


def _triggers(spec: FunctionSpec) -> str:
    kinds = []
    if spec.routes:
        kinds.append(f"{len(spec.routes)} route{'s' * (len(spec.routes) > 1)}")
    if spec.schedules:
        kinds.append(f"{len(spec.schedules)} schedule{'s' * (len(spec.schedules) > 1)}")
    if spec.queues:
        kinds.append(f"{len(spec.queues)} queue{'s' * (len(spec.queues) > 1)}")
    return ", ".join(kinds) or "direct invoke"


@dataclass(frozen=True)
class Result:
    target: Target
    median_ms: float
    ratio: float
    boto3: bool

    @property
    def misses(self) -> list[str]:
        """Why an HTTP function is over target (empty = PASS)."""
        if not self.target.is_http:
            return []
        return [why for why, bad in (("ratio", self.ratio > TARGET_RATIO), ("boto3", self.boto3)) if bad]

    def cells(self) -> list[object]:
        spec = self.target.spec
        triggers = _triggers(spec) if spec else ""
        return [self.target.name, triggers, f"{self.median_ms:.1f}", f"{self.ratio:.2f}×", "yes" if self.boto3 else "no"]


def main(rounds: int = DEFAULT_ROUNDS) -> int:
    env = probe_env()
    floor = floor_target()
    targets = function_targets()
    print(f"Cold start: handler import in a fresh interpreter, median of {rounds} interleaved rounds")
    print(f"Python {sys.version.split()[0]}; target: every HTTP function ≤ {TARGET_RATIO}× floor, no boto3")
    samples = measure([floor, *targets], rounds, env)
    floor_ms = statistics.median(s.ms for s in samples[floor.name])
    print(f"\nfloor = import {', '.join(FLOOR_MODULES)}: {floor_ms:.1f} ms\n")
    results = []
    for target in targets:
        median_ms = statistics.median(s.ms for s in samples[target.name])
        boto3 = any(s.boto3 for s in samples[target.name])
        results.append(Result(target, median_ms, median_ms / floor_ms, boto3))

    headers = ["function", "triggers", "median ms", "× floor", "boto3"]
    http = [r for r in results if r.target.is_http]
    print("HTTP functions")
    print_table(
        [*headers, "target"],
        [[*r.cells(), f"MISS ({', '.join(r.misses)})" if r.misses else "PASS"] for r in http],
        right=(2, 3),
    )
    other = [r for r in results if not r.target.is_http]
    if other:
        print("\nNon-HTTP functions (informational; boto3 allowed)")
        print_table(headers, [r.cells() for r in other], right=(2, 3))
    missed = [r for r in http if r.misses]
    for result in missed:
        print(f"\n{result.target.name}: top import costs beyond the floor (-X importtime, median of {IMPORTTIME_RUNS})")
        offenders = import_offenders(result.target, floor, env)
        print_table(["package / module", "ms"], [(name, f"{ms:.1f}") for name, ms in offenders], right=(1,))
    print(f"\n{len(http) - len(missed)}/{len(http)} HTTP functions within target")
    return 0
