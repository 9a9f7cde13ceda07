"""Fault injection, standalone (not a test): the scenarios of tests/faults/test_faults.py
against a stack of real processes started for the run, then the report table.

    .venv/bin/python bench/faults.py                     # all four, about 3 minutes
    .venv/bin/python bench/faults.py redis postgres      # some of them
    .venv/bin/python bench/faults.py --out test-artifacts/fault-report.md --keep-logs

Needs PostgreSQL at BENCH_PG (default postgres://postgres@127.0.0.1:5432; a database
rv_faults_<pid> is created and dropped) and redis-server on PATH (its own server on a free
127.0.0.1 port; the shared Redis on 6379 is never touched). Exit status 1 when an
invariant fails (items lost, duplicates, a 500, a decision without its webhook).
"""

import argparse
import sys
import time
from pathlib import Path

from fault_scenarios import (
    SCENARIOS,
    log,
    missing_prerequisites,
    report_markdown,
    result_failures,
    stack_running,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print("cannot run: " + "; ".join(missing), file=sys.stderr)
        return 2
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    names = args.scenarios or list(SCENARIOS)
    started = time.monotonic()
    results = []
    with stack_running(keep_logs=args.keep_logs) as stack:
        for name in names:
            log(f"scenario {name}")
            results.append(SCENARIOS[name](stack))
    command = "python bench/faults.py" + (" " + " ".join(args.scenarios) if args.scenarios else "")
    table = report_markdown(results, command=command)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Fault injection report\n\n" + table)
    failures = {r.fault: result_failures(r) for r in results if result_failures(r)}
    for fault, problems in failures.items():
        print(f"FAILED {fault}: {'; '.join(problems)}", file=sys.stderr)
    log(f"done in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
