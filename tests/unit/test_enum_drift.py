"""The enum drift gate (SPEC §3, the history's migration-046 lesson): every status literal that
code writes into `workspaces.status` must be a value of the `workspace_status` enum as the
migrations define it (CREATE TYPE + every ALTER TYPE … ADD VALUE). A regex SQL mock once passed
while production failed on exactly this; this gate needs no database and fails on the day the
drift is written."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE_ROOTS = [REPO / "layers/common/python/molecule_core", REPO / "functions", REPO / "local"]
MIGRATIONS = REPO / "migrations"

_CREATE_TYPE = re.compile(r"CREATE\s+TYPE\s+workspace_status\s+AS\s+ENUM\s*\((?P<values>[^)]*)\)", re.I | re.S)
_ADD_VALUE = re.compile(
    r"ALTER\s+TYPE\s+workspace_status\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'(?P<value>[^']+)'", re.I
)
# `status = 'x'` in SET clauses, and `THEN 'x'` / `ELSE 'x'` inside a CASE that assigns status.
_SET_STATUS = re.compile(r"\bstatus\s*=\s*'(?P<value>[a-z_]+)'", re.I)
_SET_STATUS_CASE = re.compile(r"\bstatus\s*=\s*CASE\b(?P<body>.*?)\bEND\b", re.I | re.S)
_CASE_LITERAL = re.compile(r"\b(?:THEN|ELSE)\s+'(?P<value>[a-z_]+)'", re.I)
_INSERT_WORKSPACES = re.compile(
    r"INSERT\s+INTO\s+workspaces\s*\((?P<cols>[^)]*)\)\s*VALUES\s*\((?P<vals>.*?)\)\s*(?:RETURNING|ON|$)",
    re.I | re.S,
)


def enum_values(migrations_dir: Path = MIGRATIONS) -> set[str]:
    values: set[str] = set()
    for path in sorted(migrations_dir.glob("*.up.sql")):
        text = path.read_text()
        for match in _CREATE_TYPE.finditer(text):
            values |= set(re.findall(r"'([^']+)'", match["values"]))
        values |= {m["value"] for m in _ADD_VALUE.finditer(text)}
    return values


def _sql_strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            found.append((node.lineno, text))
    return found


_UPDATE_SET = re.compile(
    r"UPDATE\s+workspaces\b(?:\s+(?:AS\s+)?\w+)?\s+SET\b(?P<set>.*?)(?=\bFROM\b|\bWHERE\b|\bRETURNING\b|$)",
    re.I | re.S,
)


def written_statuses(text: str) -> set[str]:
    """Status literals a statement writes into workspaces.status: the SET clause of every
    `UPDATE workspaces` (CTEs included) and the VALUES of every `INSERT INTO workspaces`."""
    values = set()
    for update in _UPDATE_SET.finditer(text):
        set_clause = update["set"]
        values |= {m["value"] for m in _SET_STATUS.finditer(set_clause)}
        for case in _SET_STATUS_CASE.finditer(set_clause):
            values |= {m["value"] for m in _CASE_LITERAL.finditer(case["body"])}
    for insert in _INSERT_WORKSPACES.finditer(text):
        cols = [c.strip().lower() for c in insert["cols"].split(",")]
        vals = [v.strip() for v in re.split(r",(?![^(]*\))", insert["vals"])]
        if "status" in cols and len(vals) == len(cols):
            literal = re.fullmatch(r"'([a-z_]+)'(?:::workspace_status)?", vals[cols.index("status")])
            if literal:
                values.add(literal[1])
    return values


def collect_written_statuses() -> dict[str, list[str]]:
    """status literal → where it is written."""
    seen: dict[str, list[str]] = {}
    for root in CODE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            for lineno, text in _sql_strings(path):
                for value in written_statuses(text):
                    where = f"{path.relative_to(REPO)}:{lineno}"
                    if where not in seen.setdefault(value, []):
                        seen[value].append(where)
    return seen


def test_every_status_written_by_code_is_in_the_enum() -> None:
    allowed = enum_values()
    written = collect_written_statuses()
    missing = {value: where for value, where in written.items() if value not in allowed}
    assert not missing, (
        "workspace_status enum drift: code writes status values the migrations never define "
        f"(add them with ALTER TYPE workspace_status ADD VALUE IF NOT EXISTS …): {missing}"
    )


def test_gate_sees_the_statuses_the_code_writes() -> None:
    # If the extraction silently broke, the gate above would pass vacuously.
    written = collect_written_statuses()
    for status in ("provisioning", "online", "offline", "degraded", "failed", "removed", "awaiting_agent"):
        assert status in written, f"drift gate no longer sees writes of {status!r}"


def test_enum_union_includes_added_values() -> None:
    values = enum_values()
    assert {"awaiting_agent", "hibernating"} <= values
    assert "provisioning" in values


def test_gate_flags_a_status_missing_from_the_enum(tmp_path: Path) -> None:
    # The gate itself: a migrations folder lacking a value the code writes makes it fail.
    for path in MIGRATIONS.glob("*.up.sql"):
        text = path.read_text().replace("ADD VALUE IF NOT EXISTS 'awaiting_agent';", "")
        (tmp_path / path.name).write_text(text)
    assert "awaiting_agent" not in enum_values(tmp_path)
    assert "awaiting_agent" in collect_written_statuses()


def test_extraction_understands_case_and_insert_forms() -> None:
    statement = """
        UPDATE workspaces SET status = CASE WHEN external THEN 'awaiting_agent' ELSE 'offline' END
        WHERE status = 'online'
    """
    assert written_statuses(statement) == {"awaiting_agent", "offline"}
    insert = "INSERT INTO workspaces (name, status, runtime) VALUES (%(n)s, 'provisioning', %(r)s) RETURNING id"
    assert written_statuses(insert) == {"provisioning"}
    assert written_statuses("SELECT * FROM workspaces WHERE status = 'bogus'") == set()
    # the SET of an UPDATE inside a CTE, after a CTE whose WHERE mentions status
    cte = """
        WITH stale AS (SELECT id FROM workspaces WHERE status IN ('online') FOR UPDATE),
        upd AS (UPDATE workspaces w SET status = CASE WHEN w.external THEN 'awaiting_agent'::workspace_status
                ELSE 'offline'::workspace_status END, updated_at = now() FROM stale WHERE w.id = stale.id)
        SELECT 1
    """
    assert written_statuses(cte) == {"awaiting_agent", "offline"}
