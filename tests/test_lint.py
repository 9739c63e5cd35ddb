"""Ruff (pycodestyle + pyflakes, 120-character lines; configured in pyproject.toml) passes on the whole tree."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    assert shutil.which("ruff"), "ruff is not installed: pip install -e '.[test]'"
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
