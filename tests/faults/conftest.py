"""Fault-injection tests (marker ``faults``): the report table is written to
test-artifacts/fault-report.md and printed in the terminal summary."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # fault_scenarios imports the bench harness

from fault_scenarios import FaultResult, report_markdown  # noqa: E402

REPORT = ROOT / "test-artifacts" / "fault-report.md"
COMMAND = "CI=true make test  (alone: .venv/bin/python -m pytest -m faults tests/faults)"
RESULTS: list[FaultResult] = []


def report_write() -> str:
    """Write the table of the faults run so far; returns it."""
    text = "# Fault injection report\n\n" + report_markdown(RESULTS, command=COMMAND)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    return text


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.write_sep("=", "fault injection (test-artifacts/fault-report.md)")
        terminalreporter.write_line(report_write())
