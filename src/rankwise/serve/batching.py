"""Request coalescing: many clients' requests become few model batches, behind a bounded queue.

One worker thread owns the model. Requests (jobs) wait in a FIFO queue; when the model is free the worker takes the
oldest jobs, whole, up to ``max_batch_pairs`` (query, document) pairs (a job larger than that forms a batch of its
own), and scores them in one call. An idle model waits at most ``max_wait_s`` after the oldest job arrived for others
to join it; a busy one never waits, since jobs gather while it works. At most ``max_queue`` jobs are admitted at once
(waiting or being scored): past that :meth:`Coalescer.submit` refuses at once with :class:`QueueFull`, carrying a
``retry_after`` estimated from the pairs already admitted and the measured pairs per second.

If a coalesced batch fails (say one request's query is too long for the model), each of its jobs is scored again
alone, so that only the bad one fails. A job that timed out while still waiting is taken out of the queue
(:meth:`Coalescer.cancel`); one already being scored finishes and its result is dropped.

Whether a request's scores stay the same when coalesced is the scoring function's business: the service calls the
reranker's ``rerank_batch`` over the batch's requests as separate queries; for the default deterministic
cross-encoder every pair runs alone through the model, so coalescing changes no score (tests check this).
"""
from __future__ import annotations

import collections
import concurrent.futures
import math
import threading
import time
from typing import Any, Callable, Sequence


class QueueFull(Exception):
    """More requests than ``max_queue`` are admitted; ``retry_after`` is a whole number of seconds."""

    def __init__(self, limit: int, retry_after: int):
        super().__init__(f"the service is at its limit of {limit} requests in progress (max_queue); "
                         f"retry after {retry_after} s")
        self.limit, self.retry_after = limit, retry_after


class Closing(RuntimeError):
    """The service is shutting down and admits no more requests."""


class Job:
    """One request's work: ``payload`` for the scoring function, ``size`` pairs, and its result as a future."""

    __slots__ = ("payload", "size", "future", "state", "enqueued")

    def __init__(self, payload: Any, size: int):
        self.payload, self.size = payload, int(size)
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.state = "queued"  # queued -> running -> done, or queued -> cancelled
        self.enqueued = time.monotonic()


class Coalescer:
    """Bounded queue plus one worker thread calling ``score(payloads) -> results`` (one result per payload)."""

    def __init__(self, score: Callable[[Sequence[Any]], Sequence[Any]], *, max_batch_pairs: int = 256,
                 max_wait_s: float = 0.005, max_queue: int = 64, metrics=None, name: str = "rankwise-model"):
        self.score = score
        self.max_batch_pairs, self.max_wait_s, self.max_queue = int(max_batch_pairs), float(max_wait_s), int(max_queue)
        self.metrics = metrics
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._admitted = 0  # jobs queued or running
        self._admitted_pairs = 0
        self._closing = False
        self._rate: float | None = None  # pairs per second, smoothed over batches
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    # --- clients --------------------------------------------------------------------------------------------
    def submit(self, payload: Any, size: int) -> Job:
        """Admit a job, or raise :class:`QueueFull` (or RuntimeError once closing)."""
        job = Job(payload, size)
        with self._cond:
            if self._closing:
                raise Closing("the service is shutting down")
            if self._admitted >= self.max_queue:
                raise QueueFull(self.max_queue, self._retry_after())
            self._admitted += 1
            self._admitted_pairs += job.size
            self._queue.append(job)
            self._gauges()
            self._cond.notify_all()
        return job

    def cancel(self, job: Job) -> bool:
        """Take a job that is still waiting out of the queue (True); False when it is already being scored."""
        with self._cond:
            if job.state != "queued":
                return False
            self._queue.remove(job)
            job.state = "cancelled"
            self._release(job)
            return True

    def retry_after(self) -> int:
        with self._cond:
            return self._retry_after()

    @property
    def admitted(self) -> int:
        return self._admitted

    def close(self, timeout: float | None = None) -> bool:
        """Admit no more jobs, finish the admitted ones, stop the worker; False if it did not stop in time."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- worker ---------------------------------------------------------------------------------------------
    def _retry_after(self) -> int:
        rate = self._rate or 0.0
        if rate <= 0:
            return 1
        return int(min(60, max(1, math.ceil(self._admitted_pairs / rate))))

    def _release(self, job: Job) -> None:
        self._admitted -= 1
        self._admitted_pairs -= job.size
        self._gauges()

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.in_flight.set(self._admitted)
            self.metrics.queue_depth.set(len(self._queue))

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            # An idle model waits a little for company, counted from when the oldest job arrived.
            deadline = self._queue[0].enqueued + self.max_wait_s
            while not self._closing and sum(j.size for j in self._queue) < self.max_batch_pairs:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._queue:
                    break
                self._cond.wait(remaining)
            batch, pairs = [], 0
            while self._queue and (not batch or pairs + self._queue[0].size <= self.max_batch_pairs):
                job = self._queue.popleft()
                job.state = "running"
                pairs += job.size
                batch.append(job)
            self._gauges()
            return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                continue
            start = time.perf_counter()
            results = self._score(batch)
            elapsed = time.perf_counter() - start
            pairs = sum(j.size for j in batch)
            with self._cond:
                if elapsed > 0 and pairs:
                    rate = pairs / elapsed
                    self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
                for job in batch:
                    job.state = "done"
                    self._release(job)
            for job, result in zip(batch, results):
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
            if self.metrics is not None:
                self.metrics.batch_pairs.observe(pairs)
                self.metrics.batch_requests.observe(len(batch))
                self.metrics.batch_seconds.observe(elapsed)
                self.metrics.pairs.inc(pairs)

    def _score(self, batch: list[Job]) -> list[Any]:
        """Results for the batch; when the coalesced call fails, each job alone (so only a bad one fails). Errors
        become the jobs' results: the request handlers answer (and log) them."""
        try:
            results = list(self.score([j.payload for j in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"the scoring function gave {len(results)} results for {len(batch)} requests")
            return results
        except Exception as e:  # noqa: BLE001 - handed to the requests
            if len(batch) == 1:
                return [e]
        results = []
        for job in batch:
            try:
                results.append(self.score([job.payload])[0])
            except Exception as e:  # noqa: BLE001
                results.append(e)
        return results


__all__ = ["Closing", "Coalescer", "Job", "QueueFull"]
