"""The packages type-check: mypy over flowkit/, tsn/ and cli/ with the project's configuration
([tool.mypy] in pyproject.toml) reports no error."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_errors():
    assert importlib.util.find_spec("mypy"), "mypy is not installed: pip install -e '.[test]'"
    # The cache lives in the repository's git-ignored .mypy_cache, so later runs check only what changed.
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")], cwd=REPO,
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "no issues found" in done.stdout, done.stdout[-2000:]
