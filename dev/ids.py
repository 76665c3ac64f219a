"""Random identifiers for local executions and events.

uuid.uuid4() reads os.urandom on every call, a slow system call in some sandboxes; these ids need
uniqueness, not cryptographic strength.
"""

from __future__ import annotations

import random
import uuid

_random = random.Random()


def fast_uuid4() -> uuid.UUID:
    return uuid.UUID(int=_random.getrandbits(128), version=4)
