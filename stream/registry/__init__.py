"""The model registry in Redis: versions, aliases, snapshots and the audit log, and the Redis
clients every part of the service uses (fail fast, retry once).

May import ``stream.model``.
"""

from .registry import ALIASES, Registry

__all__ = ["ALIASES", "Registry"]
