"""Cold start: the time to import each function's handler module in a fresh interpreter, against
the floor — importing the libraries every HTTP function needs anyway (Powertools' event handler,
psycopg, pydantic) in a fresh interpreter. A reference handler (bench/reference_app.py: the
smallest handler in the house style) runs alongside to separate the framework's share from the
platform's. All targets run interleaved, in a shuffled order each round, so machine noise hits
them alike; each figure is the median over the rounds.

Every interpreter sees what a Lambda execution environment sees, not the development venv: the
runtime's Python (template.yaml's `Runtime`, as `make` finds it for `sam build`), its standard
library, and the package as `make deploy` ships it — each function's CodeUri, and the shared layer
(molecule_core plus exactly the third-party packages of layers/common/requirements.txt, installed
once into a cache under .molecule/bench/), copied into a temporary folder and given its bytecode by
local/molecule_local/bytecode.py (`python -I -S -B`, so nothing else on the machine is importable
and nothing is written). The development venv holds more (httpx's optional command-line extras,
for one, which `import httpx` loads when it finds them), and measuring there would charge functions
for imports Lambda never does. The floor and the A2A proxy are also measured from a copy without
bytecode, as `sam build` alone ships it: a cold start that compiles every module it imports.

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
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from molecule_local import bytecode
from molecule_local.template import REPO_ROOT, FunctionSpec, default_template

from bench import print_table

FLOOR_MODULES = ("aws_lambda_powertools.event_handler", "psycopg", "pydantic")
# Informational: the floor plus what any validated route or pydantic model loads on top of it
# (pydantic 2 imports lazily: `import pydantic` alone loads little of it).
VALIDATION_MODULES = ("pydantic.main", "aws_lambda_powertools.event_handler.middlewares.openapi_validation")
REFERENCE_APP = Path(__file__).resolve().parent / "reference_app.py"
TARGET_RATIO = 1.2
PROXY = "A2aProxyFunction"
# The proxy is the hot path: its own, tighter target (issue 19).
TARGET_RATIOS = {PROXY: 1.15}
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
class Runtime:
    """The interpreter every probe runs: the template's runtime where this machine has it."""

    python: str
    version: tuple[int, int]
    wanted: tuple[int, int]  # template.yaml's Runtime

    @property
    def is_lambdas(self) -> bool:
        return self.version == self.wanted


def _version_of(python: str) -> tuple[int, int] | None:
    try:
        completed = subprocess.run(
            [python, "-I", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    words = completed.stdout.split()
    if completed.returncode != 0 or len(words) != 2 or not all(word.isdigit() for word in words):
        return None  # e.g. a pyenv shim with no such Python behind it
    return int(words[0]), int(words[1])


def find_runtime() -> Runtime:
    """LAMBDA_PYTHON (`make bench` passes the one it found for `sam build`), else `python3.N` on
    the PATH, else this interpreter — reported as not the runtime's when its version differs."""
    wanted = default_template().python_version
    candidates = (os.environ.get("LAMBDA_PYTHON"), shutil.which(f"python{wanted[0]}.{wanted[1]}"))
    for python in candidates:
        if python and _version_of(python) == wanted:
            return Runtime(python, wanted, wanted)
    return Runtime(sys.executable, (sys.version_info[0], sys.version_info[1]), wanted)


@dataclass(frozen=True)
class Lab:
    """How every probe runs: which interpreter, in which environment."""

    runtime: Runtime
    env: dict[str, str]


@dataclass(frozen=True)
class Target:
    name: str
    argv: tuple[str, str, str]  # probe arguments: kind, what to import, handler name
    cwd: Path
    layer: Path  # the layer's python/ folder (Lambda's /opt/python)
    spec: FunctionSpec | None = None  # None for the floors, the reference and the comparisons

    @property
    def is_http(self) -> bool:
        return self.spec is not None and bool(self.spec.routes)

    @property
    def target_ratio(self) -> float:
        return TARGET_RATIOS.get(self.name, TARGET_RATIO)


def layer_packages(runtime: Runtime) -> Path:
    """The layer's third-party packages, installed by the runtime's pip once per requirements file
    and Python version into the bench cache (the same `pip install -r requirements.txt` that
    `sam build` runs for the layer). Never imported from there: see `stage_package`."""
    digest = hashlib.sha256(LAYER_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    target = LAYER_CACHE / f"layer-{digest}-py{runtime.version[0]}{runtime.version[1]}"
    if not (target / ".complete").exists():
        print(f"(installing the layer's packages into {target.relative_to(REPO_ROOT)} once)")
        pip = [runtime.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
        subprocess.run([*pip, "--target", str(target), "-r", str(LAYER_REQUIREMENTS)], check=True)
        (target / ".complete").touch()
    return target


@dataclass(frozen=True)
class Package:
    """A copy of what Lambda loads: the layer (`layer/`, Lambda's /opt/python) and every function's
    CodeUri (at its path in the repository), plus the reference handler."""

    root: Path

    @property
    def layer(self) -> Path:
        return self.root / "layer"

    @property
    def reference(self) -> Path:
        return self.root / "reference" / REFERENCE_APP.name


def stage_package(root: Path, libraries: Path, runtime: Runtime, *, with_bytecode: bool) -> Package:
    """Copy the package into `root` — as `make deploy` ships it (`with_bytecode`, compiled by the
    build's own step) or as `sam build` alone does (source only)."""
    package = Package(root)
    source_only = shutil.ignore_patterns("__pycache__", ".complete")
    shutil.copytree(libraries, package.layer, ignore=source_only)
    shutil.copytree(LAYER_CODE / "molecule_core", package.layer / "molecule_core", ignore=source_only)
    for spec in default_template().functions.values():
        shutil.copytree(REPO_ROOT / spec.code_uri, root / spec.code_uri, ignore=source_only, dirs_exist_ok=True)
    package.reference.parent.mkdir()
    shutil.copy(REFERENCE_APP, package.reference)
    if with_bytecode:
        compile_ = [runtime.python, "-I", bytecode.__file__, "compile", str(root)]
        subprocess.run(compile_, check=True, stdout=subprocess.DEVNULL)
    return package


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


def probe_env() -> dict[str, str]:
    """Lambda's view: MOLECULE_ENV=test, Powertools names set, no database configured (a module
    that connects at import fails here, as it must)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(MOLECULE_ENV="test", POWERTOOLS_SERVICE_NAME="molecule", POWERTOOLS_METRICS_NAMESPACE="Molecule")
    return env


def floor_target(neutral: Path, package: Package, name: str = "floor", extra: tuple[str, ...] = ()) -> Target:
    return Target(name, ("modules", ",".join((*FLOOR_MODULES, *extra)), ""), neutral, package.layer)


def reference_target(neutral: Path, package: Package) -> Target:
    # Run from an empty directory: `python -c` puts its working directory first on sys.path, and a
    # folder of ours there (bench/, the repository root) could shadow a library or a standard module.
    return Target("reference", ("file", str(package.reference), "lambda_handler"), neutral, package.layer)


def function_targets(package: Package) -> list[Target]:
    # The runtime's working directory (LAMBDA_TASK_ROOT) is the function's CodeUri.
    return [
        Target(
            spec.logical_id,
            ("file", str(package.root / spec.module_path.relative_to(REPO_ROOT)), spec.handler_name),
            package.root / spec.code_uri,
            package.layer,
            spec,
        )
        for spec in default_template().functions.values()
    ]


def run_probe(target: Target, lab: Lab, *flags: str) -> tuple[Sample, str]:
    # -I -S: no site-packages, no PYTHON* variables, no working directory on sys.path — only what
    # the probe puts there (the CodeUri first, then the layer). -B: nothing written, so every
    # target finds exactly the bytecode its package holds.
    paths = ":".join([str(target.cwd), str(target.layer)])
    completed = subprocess.run(
        [lab.runtime.python, "-I", "-S", "-B", *flags, "-c", _PROBE, paths, *target.argv],
        cwd=target.cwd,
        env=lab.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise ImportFailed(completed.stderr.strip() or f"exit status {completed.returncode}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return Sample(float(result["ms"]), bool(result["boto3"])), completed.stderr


def measure(targets: list[Target], rounds: int, lab: Lab) -> tuple[dict[str, list[Sample]], dict[str, str]]:
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
                sample, _ = run_probe(target, lab)
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


def modules_of(target: Target, lab: Lab) -> set[str]:
    """Every module a target's interpreter imports, over a few runs."""
    modules: set[str] = set()
    for _ in range(IMPORTTIME_RUNS):
        _, stderr = run_probe(target, lab, "-X", "importtime")
        modules |= {n.module for root in parse_importtime(stderr, timed_only=False) for n in root.walk()}
    return modules


def import_offenders(
    target: Target, floor_modules: set[str], lab: Lab
) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """The handler's costliest imports beyond the floor: for each module the handler's import
    statements load first (later statements find it cached), the self time of everything under
    it that the floor does not import, and the heaviest modules in there; plus the handler
    module's own body (resolver and route set-up run at import). Medians of a few runs, in ms."""
    body = "(handler module body)"
    extra_runs: dict[str, list[float]] = defaultdict(list)
    inner_runs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(IMPORTTIME_RUNS):
        sample, stderr = run_probe(target, lab, "-X", "importtime")
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
    validation_ratio: float  # median / median of the floor with validation (informational)
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
        ratios = [f"{self.ratio:.2f}×", f"{self.min_ratio:.2f}×", f"{self.validation_ratio:.2f}×"]
        return [self.target.name, triggers, f"{self.median_ms:.1f}", *ratios, boto3, f"≤ {self.target.target_ratio}×"]


def main(rounds: int = DEFAULT_ROUNDS) -> int:
    runtime = find_runtime()
    libraries = layer_packages(runtime)
    with tempfile.TemporaryDirectory(prefix="molecule-bench-coldstart-") as scratch:
        root = Path(scratch)
        (root / "neutral").mkdir()
        built = stage_package(root / "built", libraries, runtime, with_bytecode=True)
        source_only = stage_package(root / "source-only", libraries, runtime, with_bytecode=False)
        report(rounds, Lab(runtime, probe_env()), root / "neutral", built, source_only)
    return 0


def report(rounds: int, lab: Lab, neutral: Path, built: Package, source_only: Package) -> None:
    floor, reference = floor_target(neutral, built), reference_target(neutral, built)
    validated = floor_target(neutral, built, "floor with validation", VALIDATION_MODULES)
    functions = function_targets(built)
    # The same imports from the package without bytecode, as `sam build` alone ships it
    # (informational): each pair is (with bytecode, without).
    proxy_source_only = next(t for t in function_targets(source_only) if t.name == PROXY)
    comparisons = [
        (floor, floor_target(neutral, source_only, "floor, no bytecode")),
        (
            next(t for t in functions if t.name == PROXY),
            replace(proxy_source_only, name=f"{PROXY}, no bytecode", spec=None),
        ),
    ]
    runtime = lab.runtime
    version = ".".join(map(str, runtime.version))
    print(f"Cold start: handler import in a fresh interpreter (Python {version}, {runtime.python}),")
    if not runtime.is_lambdas:
        wanted = ".".join(map(str, runtime.wanted))
        print(
            f"  NOT the functions' runtime (Python {wanted}): "
            f"set LAMBDA_PYTHON to a python{wanted} for Lambda's figures"
        )
    print(
        f"median of {rounds} interleaved rounds, the package as `make deploy` ships it (with bytecode); target: "
        f"every HTTP function ≤ {TARGET_RATIO}× floor (A2A proxy ≤ {TARGET_RATIOS[PROXY]}×), no boto3"
    )
    targets = [floor, validated, reference, *functions, *(without for _, without in comparisons)]
    samples, failures = measure(targets, rounds, lab)
    if {floor.name, validated.name, reference.name} & failures.keys():
        raise SystemExit(f"cannot measure the floors or the reference: {failures}")
    floor_ms = statistics.median(s.ms for s in samples[floor.name])
    floor_min_ms = min(s.ms for s in samples[floor.name])
    validated_ms = statistics.median(s.ms for s in samples[validated.name])

    def result(target: Target) -> Result:
        times = [s.ms for s in samples[target.name]]
        median_ms = statistics.median(times)
        boto3 = any(s.boto3 for s in samples[target.name])
        return Result(
            target, median_ms, median_ms / floor_ms, min(times) / floor_min_ms, median_ms / validated_ms, boto3
        )

    ref = result(reference)
    print(f"\nfloor      import {', '.join(FLOOR_MODULES)}: {floor_ms:.1f} ms (best {floor_min_ms:.1f})")
    print(
        f"floor with validation   the floor and {', '.join(VALIDATION_MODULES)} (any validated route or "
        f"pydantic model loads them): {validated_ms:.1f} ms = {validated_ms / floor_ms:.2f}× floor (informational)"
    )
    print(
        f"reference  bench/reference_app.py (resolver with validation, Query, pydantic body, Logger): "
        f"{ref.median_ms:.1f} ms = {ref.ratio:.2f}× floor\n"
    )
    results = [result(target) for target in functions if target.name not in failures]
    headers = [
        "function",
        "triggers",
        "median ms",
        "× floor",
        "best-of × floor",
        "× floor with validation",
        "boto3",
        "target",
    ]
    http = [r for r in results if r.target.is_http]
    print("HTTP functions")
    print_table(
        [*headers, "verdict"],
        [[*r.cells(), f"MISS ({', '.join(r.misses)})" if r.misses else "PASS"] for r in http],
        right=(2, 3, 4, 5),
    )
    other = [r for r in results if not r.target.is_http]
    if other:
        print("\nNon-HTTP functions (informational; boto3 allowed)")
        print_table(headers[:-1], [r.cells()[:-1] for r in other], right=(2, 3, 4, 5))
    print("\nWithout bytecode in the package (as `sam build` alone ships it: every module compiled at import)")
    for with_bytecode, without in comparisons:
        if {with_bytecode.name, without.name} & failures.keys():
            continue
        compiled_ms, source_ms = (statistics.median(s.ms for s in samples[t.name]) for t in (with_bytecode, without))
        print(
            f"  {with_bytecode.name}: {source_ms:.1f} ms without, {compiled_ms:.1f} ms with "
            f"({source_ms / compiled_ms:.2f}×)"
        )
    missed = [r for r in http if r.misses]
    floor_modules = modules_of(floor, lab) if missed else set()
    for miss in missed:
        print(
            f"\n{miss.target.name}: {miss.median_ms - floor_ms:.1f} ms over the floor; costliest imports "
            f"beyond it, by the handler's imports\n(-X importtime, median of {IMPORTTIME_RUNS} runs; "
            "importtime adds overhead; self ms of the heaviest modules each import pulled in)"
        )
        for name, ms, inner in import_offenders(miss.target, floor_modules, lab):
            print(f"  {ms:7.1f} ms  {name}")
            if inner and inner != [(name, ms)]:
                print(" " * 14 + "heaviest inside: " + ", ".join(f"{m} {self_ms:.1f}" for m, self_ms in inner))
    if failures:
        print("\nFailed to import (no figures; counted as over target when HTTP):")
        for name, error in failures.items():
            print(f"  {name}: {error}")
    http_total = sum(1 for target in functions if target.is_http)
    print(f"\n{len(http) - len(missed)}/{http_total} HTTP functions within target")
