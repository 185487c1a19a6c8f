"""A check that needs a new interpreter: which modules an import (or a call) loads."""

from __future__ import annotations

import subprocess
import sys


def loads(statements: str, module: str) -> bool:
    """Whether running ``statements`` in a fresh Python process leaves ``module`` imported."""
    code = f"import sys; {statements}; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"
