"""Cold start: the time to import each function's handler module in a fresh interpreter, against
the floor — importing the libraries every HTTP function needs anyway (Powertools' event handler,
psycopg, pydantic) in a fresh interpreter. A reference handler (bench/reference_app.py: the
smallest handler in the house style) runs alongside to separate the framework's share from the
platform's. All targets run interleaved, in a shuffled order each round, so machine noise hits
them alike; each figure is the median over the rounds.

Every interpreter sees what a Lambda execution environment sees, not the development venv: the
standard library, the function's CodeUri, and the shared layer — molecule_core plus exactly the
third-party packages of layers/common/requirements.txt, installed once into a cache under
.molecule/bench/ (`python -I -S`, so nothing else on the machine is importable). The development
venv holds more (httpx's optional command-line extras, for one, which `import httpx` loads when it
finds them), and measuring there would charge functions for imports Lambda never does.

Target: every HTTP function ≤ 1.2× the floor (the A2A proxy ≤ 1.15×), and boto3 never imported at
load (SPEC §2: boto3 only on the code paths that talk to AWS; the runtime provides it, the layer
does not, so an import at load shows up as a failed probe). For a function over the target,
`python -X importtime` shows which of its imports cost the most beyond the floor.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from molecule_local.template import REPO_ROOT, FunctionSpec, default_template

from bench import print_table

FLOOR_MODULES = ("aws_lambda_powertools.event_handler", "psycopg", "pydantic")
REFERENCE_APP = Path(__file__).resolve().parent / "reference_app.py"
TARGET_RATIO = 1.2
# The proxy is the hot path: its own, tighter target (issue 19).
TARGET_RATIOS = {"A2aProxyFunction": 1.15}
LAYER_REQUIREMENTS = REPO_ROOT / "layers/common/requirements.txt"
LAYER_CODE = REPO_ROOT / "layers/common/python"
LAYER_CACHE = REPO_ROOT / ".molecule/bench"
DEFAULT_ROUNDS = 7
IMPORTTIME_RUNS = 3
TOP_OFFENDERS = 5

# Written to stderr right before the timer starts, so `-X importtime` output can be cut there.
_START_MARKER = "-- timer starts --"
# Runs in the fresh interpreter: load the handler module by file path, as the Lambda runtime does
# (or import the floor's modules), and report the time and whether boto3 came along.
_PROBE = """
import importlib.util, json, sys, time
paths, kind, target, handler = sys.argv[1:5]
sys.path[:0] = paths.split(":")  # as Lambda: the CodeUri, then the layer
print(START_MARKER, file=sys.stderr, flush=True)
start = time.perf_counter()
if kind == "modules":
    for name in target.split(","):
        __import__(name)  # the import statement's path, which -X importtime reports
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
    "PYTHONDONTWRITEBYTECODE",
)


@dataclass(frozen=True)
class Target:
    name: str
    argv: tuple[str, str, str]  # probe arguments: kind, what to import, handler name
    cwd: Path
    spec: FunctionSpec | None = None  # None for the floor and the reference handler

    @property
    def is_http(self) -> bool:
        return self.spec is not None and bool(self.spec.routes)

    @property
    def target_ratio(self) -> float:
        return TARGET_RATIOS.get(self.name, TARGET_RATIO)


def layer_packages() -> Path:
    """The layer's third-party packages, installed once per requirements file into the bench cache
    (the same `pip install -r requirements.txt` that `sam build` runs for the layer)."""
    digest = hashlib.sha256(LAYER_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    target = LAYER_CACHE / f"layer-{digest}"
    if not (target / ".complete").exists():
        print(f"(installing the layer's packages into {target.relative_to(REPO_ROOT)} once)")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        subprocess.run([*pip, "--target", str(target), "-r", str(LAYER_REQUIREMENTS)], check=True)
        (target / ".complete").touch()
    return target


class ImportFailed(Exception):
    """A probe's interpreter could not import its target."""


@dataclass(frozen=True)
class Sample:
    ms: float
    boto3: bool


@dataclass
class ImportNode:
    """One line of `-X importtime`, with the imports it triggered."""

    module: str
    self_ms: float
    cumulative_ms: float
    children: list[ImportNode] = field(default_factory=list)

    def walk(self) -> list[ImportNode]:
        return [self, *(node for child in self.children for node in child.walk())]


def probe_env(pycache: Path, layer: Path) -> dict[str, str]:
    """Lambda's view: MOLECULE_ENV=test, Powertools names set, no database configured (a module
    that connects at import fails here, as it must). Bytecode for every module — libraries and
    platform code alike — is cached under `pycache` by the warm-up round, so that no target pays
    for compiling source the others load precompiled (and nothing is written into the tree)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(
        MOLECULE_ENV="test",
        POWERTOOLS_SERVICE_NAME="molecule",
        POWERTOOLS_METRICS_NAMESPACE="Molecule",
        PYTHONPYCACHEPREFIX=str(pycache),
        PYTHON_LAMBDA_PATH=f"{layer}:{LAYER_CODE}",
    )
    return env


def floor_target(neutral: Path) -> Target:
    return Target("floor", ("modules", ",".join(FLOOR_MODULES), ""), neutral)


def reference_target(neutral: Path) -> Target:
    # Run from an empty directory: `python -c` puts its working directory first on sys.path, and a
    # folder of ours there (bench/, the repository root) could shadow a library or a standard module.
    return Target("reference", ("file", str(REFERENCE_APP), "lambda_handler"), neutral)


def function_targets() -> list[Target]:
    # The runtime's working directory (LAMBDA_TASK_ROOT) is the function's CodeUri.
    return [
        Target(spec.logical_id, ("file", str(spec.module_path), spec.handler_name), REPO_ROOT / spec.code_uri, spec)
        for spec in default_template().functions.values()
    ]


def run_probe(target: Target, env: dict[str, str], *flags: str) -> tuple[Sample, str]:
    # -I -S: no site-packages, no PYTHONPATH, no working directory on sys.path — only what the probe
    # puts there (env PYTHON_LAMBDA_PATH: the CodeUri first, then the layer).
    paths = ":".join([str(target.cwd), env["PYTHON_LAMBDA_PATH"]])
    completed = subprocess.run(
        [sys.executable, "-I", "-S", *flags, "-c", _PROBE, paths, *target.argv],
        cwd=target.cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise ImportFailed(completed.stderr.strip() or f"exit status {completed.returncode}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(float(result["ms"]), bool(result["boto3"])), completed.stderr


def measure(targets: list[Target], rounds: int, env: dict[str, str]) -> tuple[dict[str, list[Sample]], dict[str, str]]:
    """Samples per target name, and the targets whose import failed (with the error's last line);
    those drop out of the later rounds."""
    samples: dict[str, list[Sample]] = defaultdict(list)
    failures: dict[str, str] = {}
    order = list(targets)
    shuffler = random.Random(0)  # a fixed but varied order, the same on every run
    for round_index in range(rounds + 1):
        shuffler.shuffle(order)
        for target in order:
            if target.name in failures:
                continue
            try:
                sample, _ = run_probe(target, env)
            except ImportFailed as exc:
                failures[target.name] = str(exc).strip().splitlines()[-1]
                continue
            if round_index:  # round 0 only warms the bytecode caches and the OS page cache
                samples[target.name].append(sample)
    return samples, failures


# --- where the time goes -------------------------------------------------------------------------


def parse_importtime(stderr: str, *, timed_only: bool = True) -> list[ImportNode]:
    """The import forest of `-X importtime` output (by default only what was imported while the
    timer ran). Lines come children first, each indented two spaces per level."""
    lines = stderr.splitlines()
    if timed_only and _START_MARKER in lines:
        lines = lines[lines.index(_START_MARKER) + 1 :]
    pending: list[tuple[int, ImportNode]] = []
    for line in lines:
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        node = ImportNode(name.strip(), int(own) / 1000, int(cumulative) / 1000)
        while pending and pending[-1][0] == depth + 1:
            node.children.insert(0, pending.pop()[1])
        pending.append((depth, node))
    return [node for _, node in pending]


def _extra_ms(node: ImportNode, floor_modules: set[str]) -> float:
    return sum(n.self_ms for n in node.walk() if n.module not in floor_modules)


def modules_of(target: Target, env: dict[str, str]) -> set[str]:
    """Every module a target's interpreter imports, over a few runs."""
    modules: set[str] = set()
    for _ in range(IMPORTTIME_RUNS):
        _, stderr = run_probe(target, env, "-X", "importtime")
        modules |= {n.module for root in parse_importtime(stderr, timed_only=False) for n in root.walk()}
    return modules


def import_offenders(
    target: Target, floor_modules: set[str], env: dict[str, str]
) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """The handler's costliest imports beyond the floor: for each module the handler's import
    statements load first (later statements find it cached), the self time of everything under
    it that the floor does not import, and the heaviest modules in there; plus the handler
    module's own body (resolver and route set-up run at import). Medians of a few runs, in ms."""
    body = "(handler module body)"
    extra_runs: dict[str, list[float]] = defaultdict(list)
    inner_runs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(IMPORTTIME_RUNS):
        sample, stderr = run_probe(target, env, "-X", "importtime")
        roots = parse_importtime(stderr)
        extra_runs[body].append(max(0.0, sample.ms - sum(root.cumulative_ms for root in roots)))
        for root in roots:
            extra_runs[root.module].append(_extra_ms(root, floor_modules))
            for node in root.walk():
                if node.module not in floor_modules:
                    inner_runs[root.module][node.module].append(node.self_ms)
    ranked = sorted(((name, statistics.median(runs)) for name, runs in extra_runs.items()), key=lambda item: -item[1])
    offenders = []
    for name, ms in ranked[:TOP_OFFENDERS]:
        inner = sorted(
            ((module, statistics.median(runs)) for module, runs in inner_runs[name].items()),
            key=lambda item: -item[1],
        )
        offenders.append((name, ms, inner[:3]))
    return offenders


# --- report ---------------------------------------------------------------------------------------


def _triggers(spec: FunctionSpec) -> str:
    counts = [
        (len(spec.routes), "route"),
        (len(spec.schedules), "schedule"),
        (len(spec.queues), "queue"),
    ]
    return ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for n, kind in counts if n) or "direct invoke"


@dataclass(frozen=True)
class Result:
    target: Target
    median_ms: float
    ratio: float  # median / median of the floor: the figure the target is about
    min_ratio: float  # best / best of the floor: less sensitive to a noisy machine
    boto3: bool

    @property
    def misses(self) -> list[str]:
        """Why an HTTP function is over target (empty = PASS)."""
        if not self.target.is_http:
            return []
        over = self.ratio > self.target.target_ratio
        return [why for why, bad in (("ratio", over), ("boto3", self.boto3)) if bad]

    def cells(self) -> list[object]:
        triggers = _triggers(self.target.spec) if self.target.spec else ""
        boto3 = "yes" if self.boto3 else "no"
        ratios = [f"{self.ratio:.2f}×", f"{self.min_ratio:.2f}×"]
        return [self.target.name, triggers, f"{self.median_ms:.1f}", *ratios, boto3, f"≤ {self.target.target_ratio}×"]


def main(rounds: int = DEFAULT_ROUNDS) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="molecule-bench-pycache-") as pycache,
        tempfile.TemporaryDirectory(prefix="molecule-bench-neutral-") as neutral,
    ):
        report(rounds, probe_env(Path(pycache), layer_packages()), Path(neutral))
    return 0


def report(rounds: int, env: dict[str, str], neutral: Path) -> None:
    floor, reference = floor_target(neutral), reference_target(neutral)
    functions = function_targets()
    print(f"Cold start: handler import in a fresh interpreter (Python {sys.version.split()[0]}),")
    print(
        f"median of {rounds} interleaved rounds, the Lambda package's sys.path; target: every HTTP function "
        f"≤ {TARGET_RATIO}× floor (A2A proxy ≤ {TARGET_RATIOS['A2aProxyFunction']}×), no boto3"
    )
    samples, failures = measure([floor, reference, *functions], rounds, env)
    if floor.name in failures or reference.name in failures:
        raise SystemExit(f"cannot measure the floor or the reference: {failures}")
    floor_ms = statistics.median(s.ms for s in samples[floor.name])
    floor_min_ms = min(s.ms for s in samples[floor.name])

    def result(target: Target) -> Result:
        times = [s.ms for s in samples[target.name]]
        median_ms = statistics.median(times)
        boto3 = any(s.boto3 for s in samples[target.name])
        return Result(target, median_ms, median_ms / floor_ms, min(times) / floor_min_ms, boto3)

    ref = result(reference)
    print(f"\nfloor      import {', '.join(FLOOR_MODULES)}: {floor_ms:.1f} ms (best {floor_min_ms:.1f})")
    print(
        f"reference  bench/reference_app.py (resolver with validation, Query, pydantic body, Logger): "
        f"{ref.median_ms:.1f} ms = {ref.ratio:.2f}× floor\n"
    )
    results = [result(target) for target in functions if target.name not in failures]
    headers = ["function", "triggers", "median ms", "× floor", "best-of × floor", "boto3", "target"]
    http = [r for r in results if r.target.is_http]
    print("HTTP functions")
    print_table(
        [*headers, "verdict"],
        [[*r.cells(), f"MISS ({', '.join(r.misses)})" if r.misses else "PASS"] for r in http],
        right=(2, 3, 4),
    )
    other = [r for r in results if not r.target.is_http]
    if other:
        print("\nNon-HTTP functions (informational; boto3 allowed)")
        print_table(headers[:-1], [r.cells()[:-1] for r in other], right=(2, 3, 4))
    missed = [r for r in http if r.misses]
    floor_modules = modules_of(floor, env) if missed else set()
    for miss in missed:
        print(
            f"\n{miss.target.name}: {miss.median_ms - floor_ms:.1f} ms over the floor; costliest imports "
            f"beyond it, by the handler's imports\n(-X importtime, median of {IMPORTTIME_RUNS} runs; "
            "importtime adds overhead; self ms of the heaviest modules each import pulled in)"
        )
        for name, ms, inner in import_offenders(miss.target, floor_modules, env):
            print(f"  {ms:7.1f} ms  {name}")
            if inner and inner != [(name, ms)]:
                print(" " * 14 + "heaviest inside: " + ", ".join(f"{m} {self_ms:.1f}" for m, self_ms in inner))
    if failures:
        print("\nFailed to import (no figures; counted as over target when HTTP):")
        for name, error in failures.items():
            print(f"  {name}: {error}")
    http_total = sum(1 for target in functions if target.is_http)
    print(f"\n{len(http) - len(missed)}/{http_total} HTTP functions within target")
