"""Shared test helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project is installed editable; this keeps tests working from a bare checkout too.
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

IN_CI = os.environ.get("CI", "").lower() == "true"
