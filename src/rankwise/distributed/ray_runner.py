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
import sys
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
    """One model load per actor; each call computes a batch of units and returns their journal records. A user's
    mistake (a bad option, a missing model, an unreachable endpoint: rankwise's expected errors) comes back as a row
    that the driver raises as it is, not as a dead actor that Ray would restart again and again."""

    def __init__(self, task, threads: int):
        os.environ["RANKWISE_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(threads)
        torch = sys.modules.get("torch")  # imported already (by the task's unpickling): size its pool; else
        if torch is not None:             # OMP_NUM_THREADS does when the model's code imports it
            torch.set_num_threads(threads)
        self.task, self.model, self.error = task, None, None
        try:
            self.model = task.build()
        except EXPECTED_ERRORS as e:
            self.error = e

    def __call__(self, batch: dict) -> dict:
        rows: dict[str, list] = {"key": [], "value": [], "payload": [], "has_payload": [], "error": []}
        for key, unit in zip(batch["key"], batch["unit"]):
            value, payload, error = None, None, self.error
            if error is None:
                try:
                    value, payload = self.task.dump(self.task.compute(self.model, pickle.loads(unit)))
                except EXPECTED_ERRORS as e:
                    error = e
            rows["key"].append(str(key))
            rows["value"].append(json.dumps(value, allow_nan=False))
            rows["payload"].append(b"" if payload is None else payload)
            rows["has_payload"].append(payload is not None)
            rows["error"].append(b"" if error is None else _pickle_error(error))
        return rows


def _pickle_error(error: BaseException) -> bytes:
    try:
        return pickle.dumps(error)
    except Exception:  # noqa: BLE001 - an exception that does not pickle still has a message
        return pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))


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
    for row in results.iter_rows():
        if row["error"]:
            raise pickle.loads(row["error"])
        key = str(row["key"])
        payload = bytes(row["payload"]) if row["has_payload"] else None
        done(key, units[key], json.loads(row["value"]), payload)


__all__ = ["connect", "run_on_ray"]
