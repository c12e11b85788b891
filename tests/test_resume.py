"""Kill and resume: `rankwise rerank` and `rankwise retrieve` (with corpus encoding) are killed with SIGKILL at random
points, again and again, sometimes with their journal's last record torn as a crash mid-write leaves it; each time
the run resumes with --resume, and the final TREC file is byte-identical to an uninterrupted run's."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from rankwise.cli import main

DEMO = REPO_ROOT / "src" / "rankwise" / "demo_data"


def records(journal: Path) -> int:
    try:
        return max(0, journal.read_bytes().count(b"\n") - 1)  # the header is not a unit
    except OSError:
        return 0


def kill_and_resume(command: list[str], output: Path, units: int, kills: int, seed: int, ray: str | None = None,
                    timeout: float = 120) -> dict:
    """Run ``command`` (a rankwise CLI argument list writing ``output``) ``kills`` times, each killed (SIGKILL) once its
    journal holds a random number of units, or after a random delay; then once to the end. Returns what happened."""
    rng = random.Random(seed)
    journal = Path(str(output) + ".journal")
    env = {**os.environ, "RANKWISE_PROGRESS": "0"}
    if ray is not None:
        env["RAY_ADDRESS"] = ray
    seen = {"mid_run": 0, "torn": 0, "before_first_unit": 0, "after_output": 0}
    args = [sys.executable, "-m", "rankwise", *command, "-o", str(output), "--resume"]
    for _ in range(kills):
        low = records(journal) + 1
        target = rng.randint(low, units - 1) if low < units and rng.random() < 0.8 else None
        delay = rng.uniform(0.2, 3.0)
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = time.monotonic()
        while process.poll() is None and time.monotonic() - start < timeout:
            if (target is not None and records(journal) >= target) or (target is None and
                                                                        time.monotonic() - start > delay):
                break
            time.sleep(0.005)
        if process.poll() is not None:  # finished before the kill: start the next round from scratch
            assert process.returncode == 0, process.stderr.read().decode()
            output.unlink()
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
        done = records(journal)
        seen["mid_run"] += 0 < done < units
        seen["before_first_unit"] += done == 0
        if output.exists():  # killed after the atomic write: the whole output, never a part of it
            seen["after_output"] += 1
            assert output.read_bytes() == Path(str(output).replace("resumed", "reference")).read_bytes()
        if done and rng.random() < 0.4:  # a crash in the middle of the last append leaves a torn record
            data = journal.read_bytes()
            last = data.rstrip(b"\n").rfind(b"\n") + 1
            journal.write_bytes(data[: rng.randint(last + 1, len(data) - 1)])
            seen["torn"] += 1
    final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout * 2)
    assert final.returncode == 0, final.stderr
    assert not journal.exists()
    return seen


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "bm25.run"
    assert main(["retrieve", str(DEMO), "-o", str(path), "--top-k", "6"]) == 0
    return path


def rerank_command(candidates: Path) -> list[str]:
    return ["rerank", str(candidates), "--dataset", str(DEMO), "--reranker", "cross-encoder", "--top-k", "6"]


def test_rerank_killed_again_and_again_resumes_to_the_same_bytes(candidates, tmp_path):
    command = rerank_command(candidates)
    assert main(command + ["-o", str(tmp_path / "reference.run")]) == 0
    seen = kill_and_resume(command, tmp_path / "resumed.run", units=30, kills=4, seed=13)
    assert (tmp_path / "resumed.run").read_bytes() == (tmp_path / "reference.run").read_bytes()
    assert seen["mid_run"] >= 2, seen


def test_dense_retrieval_killed_during_encoding_resumes_to_the_same_bytes(tmp_path):
    command = ["retrieve", str(DEMO), "--retriever", "dense", "--shard-size", "12", "--top-k", "10"]
    assert main(command + ["-o", str(tmp_path / "reference.run")]) == 0
    seen = kill_and_resume(command, tmp_path / "resumed.run", units=19, kills=3, seed=7)
    assert (tmp_path / "resumed.run").read_bytes() == (tmp_path / "reference.run").read_bytes()
    assert seen["mid_run"] >= 1, seen


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rerank_many_kills(candidates, tmp_path, seed):
    command = rerank_command(candidates)
    assert main(command + ["-o", str(tmp_path / "reference.run")]) == 0
    seen = kill_and_resume(command, tmp_path / "resumed.run", units=30, kills=12, seed=seed)
    assert (tmp_path / "resumed.run").read_bytes() == (tmp_path / "reference.run").read_bytes()
    assert seen["mid_run"] >= 6 and seen["torn"] >= 1, seen


def test_resume_refuses_a_journal_of_other_settings(candidates, tmp_path, capsys):
    output = tmp_path / "out.run"
    journal = Path(str(output) + ".journal")
    from rankwise.distributed import Journal

    Journal.open(journal, {"command": "rerank", "reranker": "bm25"}).close()
    assert main(rerank_command(candidates) + ["-o", str(output)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(rerank_command(candidates) + ["-o", str(output), "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err and not output.exists()
