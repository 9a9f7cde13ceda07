"""The multi-node run (markers ``cluster`` and ``faults``): its report goes to
test-artifacts/cluster-report.md and into the terminal summary."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))  # bench/cluster.py imports the bench harness

REPORT = ROOT / "test-artifacts" / "cluster-report.md"
COMMAND = "CI=true make test  (alone: .venv/bin/python -m pytest -m cluster tests/cluster)"
SECTIONS: list[str] = []


def report_write(section: str) -> None:
    SECTIONS.append(section)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("# Multi-node run\n\n" + "\n".join(SECTIONS))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SECTIONS:
        terminalreporter.write_sep("=", "multi-node run (test-artifacts/cluster-report.md)")
        terminalreporter.write_line("\n".join(SECTIONS))
