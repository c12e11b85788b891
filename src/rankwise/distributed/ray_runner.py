"""Units on Ray: a Ray Data dataset of units, ``map_batches`` over an actor pool, results streamed back to the driver.

Each actor builds the task's model once (its :class:`~rankwise.distributed.units.Recipe`: a reranker by name, an
encoder from its settings), then computes the units it is handed with the task's own ``compute`` — the library call a
single process makes — and returns each result as the journal record it becomes (``dump``). The driver commits each
record as it arrives, so a killed driver resumes from the journal like a local run, and a worker node that dies takes
only its units in flight with it: Ray restarts the actors elsewhere and Ray Data retries their tasks.

Resources: every actor declares ``num_cpus`` (and ``num_gpus``); it runs its model with that many threads
(``RANKWISE_THREADS``, ``torch.set_num_threads``). A local cluster started here takes the usable cores and an object
store of at most 512 MB (units are small; Ray Data streams them), and no dashboard.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
from typing import Any, Callable, Sequence

from rankwise.distributed.execution import RayOptions
from rankwise.errors import EXPECTED_ERRORS
from rankwise.models import require

LOCAL_OBJECT_STORE = 512 * 1024 ** 2


def connect(options: RayOptions | None = None):
    """Join or start the Ray cluster that ``options.address`` names (see :class:`RayOptions`); returns ``ray``."""
    ray = require("ray", "ray", "the Ray backend")
    options = options or RayOptions()
    if ray.is_initialized():
        return ray
    address = options.address
    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    quiet = dict(logging_level=logging.WARNING, log_to_driver=True)
    if address:
        try:
            ray.init(address=address, **quiet, **options.init_options)
        except ConnectionError as e:
            raise ConnectionError(f"cannot join the Ray cluster at {address!r}: {e}. Start one with `ray start "
                                  "--head` (then RAY_ADDRESS=HOST:6379), or pass --ray without an address to start "
                                  "a local cluster") from None
        return ray
    from rankwise.onnx_runtime import usable_cpus

    init = {"num_cpus": usable_cpus(), "object_store_memory": LOCAL_OBJECT_STORE, "include_dashboard": False,
            **quiet, **options.init_options}
    ray.init(**init)
    return ray


class _UnitActor:
    """One model load per actor; each call computes a batch of units and returns their journal records."""

    def __init__(self, task, threads: int):
        os.environ["RANKWISE_THREADS"] = str(threads)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
        self.task = task
        self.model = task.build()

    def __call__(self, batch: dict) -> dict:
        keys, values, payloads = [], [], []
        for key, unit in zip(batch["key"], batch["unit"]):
            value, payload = self.task.dump(self.task.compute(self.model, pickle.loads(unit)))
            keys.append(str(key))
            values.append(json.dumps(value, allow_nan=False))
            payloads.append(b"" if payload is None else payload)
        return {"key": keys, "value": values, "payload": payloads, "has_payload": [p != b"" for p in payloads]}


def default_workers(ray, options: RayOptions) -> int:
    resources = ray.cluster_resources()
    if options.num_gpus:
        return max(1, int(resources.get("GPU", 0) // options.num_gpus))
    return max(1, int(resources.get("CPU", 1) // max(options.num_cpus, 1e-3)))


def run_on_ray(task, pending: Sequence[tuple[str, Any]], options: RayOptions,
               done: Callable[[str, Any, Any, bytes | None], None]) -> None:
    """Compute ``pending`` (key, unit) pairs on an actor pool; ``done(key, unit, value, payload)`` gets each result
    on the driver as it arrives (in any order)."""
    ray = connect(options)
    from ray.data import ActorPoolStrategy, DataContext

    from rankwise.progress import progress_enabled

    context = DataContext.get_current()
    context.enable_progress_bars = progress_enabled()
    context.print_on_execution_start = False
    units = dict(pending)
    rows = [{"key": key, "unit": pickle.dumps(unit, protocol=pickle.HIGHEST_PROTOCOL)} for key, unit in pending]
    workers = options.workers or default_workers(ray, options)
    # One unit per block, so an actor's result reaches the driver (and the journal) as soon as it is computed.
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    threads = max(1, int(options.num_cpus))
    results = dataset.map_batches(
        _UnitActor, fn_constructor_args=(task, threads), batch_size=options.units_per_task, batch_format="numpy",
        compute=ActorPoolStrategy(size=min(workers, len(rows))), num_cpus=options.num_cpus,
        num_gpus=options.num_gpus or None,
    )
    try:
        for row in results.iter_rows():
            key = str(row["key"])
            payload = bytes(row["payload"]) if row["has_payload"] else None
            done(key, units[key], json.loads(row["value"]), payload)
    except Exception as e:  # noqa: BLE001 - a user's mistake inside an actor is still a user's mistake
        cause = _user_error(e)
        if cause is not None:
            raise cause from None
        raise


def _user_error(error: BaseException) -> BaseException | None:
    """The expected error (bad option, missing model…) behind Ray's wrappers, if that is what failed."""
    seen = set()
    stack = [error]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        cause = getattr(e, "cause", None)
        if isinstance(e, EXPECTED_ERRORS) and type(e).__module__.split(".")[0] != "ray" and cause is None:
            return e
        stack.extend([cause if isinstance(cause, BaseException) else None, e.__cause__, e.__context__])
    return None


__all__ = ["connect", "run_on_ray"]
