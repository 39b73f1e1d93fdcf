"""Timings of the Molecule runs, printed at the end of the session ("molecule timings")."""

from __future__ import annotations

import pytest

_TIMINGS: dict[str, float] = {}


@pytest.fixture
def molecule_timings() -> dict[str, float]:
    """Where each test records how long its `molecule test` took (id -> seconds)."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    if not _TIMINGS:
        return
    terminalreporter.section("molecule timings")
    for name, seconds in sorted(_TIMINGS.items()):
        terminalreporter.write_line(f"{name:<28} {seconds:7.1f} s")
