"""``rankwise serve`` as a subprocess on a free loopback port, for tests and benchmarks (and users' own tests).

    with ServeProcess("--reranker", "cross-encoder", "--max-queue", "4") as server:
        requests.post(server.url + "/v2/rerank", json={...})
    # stopped with SIGTERM (then SIGKILL if it hangs), whatever happened inside the block

Its output goes to a log file (:attr:`ServeProcess.log_path`, shown in the error when it fails to start).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServeProcess:
    """``python -m rankwise serve ARGS --port P`` on 127.0.0.1; started by :meth:`start` or ``with``."""

    def __init__(self, *args: str, startup_timeout: float = 180.0, env: dict[str, str] | None = None):
        self.args = [str(a) for a in args]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.env = {**os.environ, "RANKWISE_PROGRESS": "0", **(env or {})}
        self.process: subprocess.Popen | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="rankwise-serve-")
        self.log_path = Path(self._log_dir.name) / "serve.log"

    def start(self) -> "ServeProcess":
        command = [sys.executable, "-m", "rankwise", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   *self.args]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"rankwise serve exited with status {self.process.returncode} before answering:\n"
                                   f"{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rankwise serve did not answer within {self.startup_timeout:g} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.1)

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown: requests in flight finish) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit status."""
        if self.process is None:
            return None
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log_dir.cleanup()


__all__ = ["ServeProcess", "free_port"]
