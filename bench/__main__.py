"""`python -m bench [coldstart] [statements] [http] [registry] [a2a] [queue] [memories]` — run the named benchmarks
(all by default)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import a2a, a2a_queue, coldstart, local_http, memories, registry, statements

BENCHMARKS: dict[str, Callable[[argparse.Namespace], int]] = {
    "coldstart": lambda args: coldstart.main(rounds=args.rounds),
    "statements": lambda args: statements.main(show_sql=args.sql),
    "http": lambda args: local_http.main(),
    "registry": lambda args: registry.main(),
    "a2a": lambda args: a2a.main(),
    "queue": lambda args: a2a_queue.main(),
    "memories": lambda args: memories.main(),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument(
        "--rounds", type=int, default=coldstart.DEFAULT_ROUNDS, help="coldstart: fresh interpreters per target"
    )
    parser.add_argument("--sql", action="store_true", help="statements: also print every statement sent")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    status = 0
    for index, name in enumerate(args.names or BENCHMARKS):
        if index:
            print()
        status = max(status, BENCHMARKS[name](args))
    return status


if __name__ == "__main__":
    sys.exit(main())
