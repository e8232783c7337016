"""The marks of a desktop test: slow, Linux only, skipped (saying what to install) without the
tools it drives, and a time limit."""

from __future__ import annotations

import shutil
import sys

import pytest

__all__ = ["desktop_marks"]


def desktop_marks(tools: dict[str, str], linux_for: str) -> list[pytest.MarkDecorator]:
    """*tools*: each command and the apt package that has it; *linux_for*: what needs Linux."""
    return [
        pytest.mark.slow,
        pytest.mark.skipif(sys.platform != "linux", reason=f"{linux_for}: Linux only"),
        *(
            pytest.mark.skipif(
                shutil.which(tool) is None,
                reason=f"{tool} is missing (apt-get install {package})",
            )
            for tool, package in tools.items()
        ),
        pytest.mark.timeout(150),
    ]
