"""Benchmarks that print figures and ratios measured side by side in one run (SPEC §8): never a
timed assertion, always a comparison against a floor measured in the same run.

- `coldstart`: import time of every function's handler in a fresh interpreter, against the import
  time of the libraries every HTTP function needs anyway.
- `statements`: SQL round trips per request, one representative request per route.
- `registry`: register/heartbeat round trips, the liveness sweep at 100 000 workspaces against
  `count(*)`, and 200 concurrent heartbeats against the local stack run as a process.
- `a2a`: the proxy's added latency against calling the agent directly, SQL before dispatch, and
  the since_id poll on 1 000 000 activity rows against a primary-key lookup.
- `memories`: ranked full-text, vector and hybrid search over 100 000 memories against a
  primary-key lookup, with the plans.
"""

from __future__ import annotations

from collections.abc import Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[int] = ()) -> None:
    """A plain-text table; columns whose index is in `right` are right-aligned (numbers)."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = (v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values))
        return "  ".join(padded).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))
