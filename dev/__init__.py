"""Local-only tools: the embedded runner (with its store of analyses), demo builder, interactive
tester, benchmark, load check, burst simulation, webhook receiver, reconciliation check and review
of verdicts. Never deployed (SAM packages only ``functions/``).

Importing any ``dev`` module makes the shared package (``functions/shared/proctoring``) importable,
as the Lambda layer does on AWS.
"""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent.parent / "functions" / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
