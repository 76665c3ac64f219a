"""Random identifiers for local executions and events.

uuid.uuid4() reads os.urandom on every call, a slow system call in some sandboxes; these ids need
uniqueness, not cryptographic strength. A private generator is immune to code that seeds the
global one (pytest-randomly does, per test), and it is reseeded in a forked child so that two
processes never draw the same sequence.
"""

from __future__ import annotations

import os
import random
import uuid

_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)


def fast_uuid4() -> uuid.UUID:
    return uuid.UUID(int=_random.getrandbits(128), version=4)
