"""How stages run, never what they compute: run journals (resumable long runs) and the Ray backend.

- :mod:`~rankwise.distributed.journal`: :class:`Journal`, an append-only, checksummed, fsync'd record of the completed
  units of a run; a killed run resumes from it with byte-identical output.
- :mod:`~rankwise.distributed.execution`: :func:`executing` makes an :class:`Execution` active: rerankers and corpus
  encoding then run as units (queries, document shards), journalled, in this process or on Ray.
- :mod:`~rankwise.distributed.ray_runner`: the units as Ray Data ``map_batches`` over an actor pool, one model load
  per actor (``pip install 'rankwise[ray]'``).

Ray is imported only when a run asks for it. See docs/scaling.md.
"""
from rankwise.distributed.execution import (
           Execution,
           RayOptions,
           current_execution,
           executing,
)
from rankwise.distributed.journal import Journal, JournalError, atomic_write
from rankwise.distributed.units import Recipe

__all__ = ["Execution", "RayOptions", "current_execution", "executing", "Journal", "JournalError", "atomic_write",
           "Recipe"]
