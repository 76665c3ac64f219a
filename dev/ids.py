"""Random identifiers for local executions and events.

uuid.uuid4() reads os.urandom on every call, a slow system call in some sandboxes; these ids need
uniqueness, not cryptographic strength. The module-level generator is reseeded in a forked child,
so two processes never draw the same sequence.
"""

from __future__ import annotations

import random
import uuid


def fast_uuid4() -> uuid.UUID:
    return uuid.UUID(int=random.getrandbits(128), version=4)
