"""``cobuild serve --processes N``: more processes answer on the one port (a machine's other
cores), the first keeps the embedded workers, and all stop together."""
from __future__ import annotations

import os
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.api_support import ServerProcess

V = "/api/v1"


def _serving_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"\nPPid:\t{parent}\n" in status and b"--listen-fd" in cmdline:
                found.append(int(entry.name))
    return found


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.1)
    return False


def _organisation(n: int) -> dict:
    return {"code": f"P{n:04d}", "name": f"测试村{n}党支部", "kind": "village",
            "region_code": f"3311231012{n % 100:02d}"}


def test_two_processes_answer_every_request_once_and_stop_together(tmp_path):
    token = secrets.token_urlsafe(24)
    running = ServerProcess(tmp_path / "var", token, args=("--processes", "2"))
    parent = running.process.pid
    try:
        assert "2 processes answer requests" in running.banner[2]
        children = _serving_children(parent)
        assert len(children) == 1
        headers = {"Authorization": f"Bearer {token}"}

        def create(n: int) -> int:
            return requests.post(running.base_url + V + "/organisations", json=_organisation(n),
                                 headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(create, range(60))) == {201}
        # The first process paused: the other still answers, reads and writes alike.
        os.kill(parent, signal.SIGSTOP)
        try:
            assert create(60) == 201
            found = requests.get(running.base_url + V + "/organisations?q=测试村&limit=100",
                                 headers=headers, timeout=30).json()["items"]
        finally:
            os.kill(parent, signal.SIGCONT)
        assert sorted(o["code"] for o in found) == [f"P{n:04d}" for n in range(61)]  # each once
        out = running.stop()
        assert running.process.returncode == 0 and "cobuild API stopped" in out, out
        assert "Traceback" not in out, out
        assert all(_gone(pid, 10) for pid in children)
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_a_serving_process_ends_when_the_first_dies(tmp_path):
    running = ServerProcess(tmp_path / "var", secrets.token_urlsafe(24), args=("--processes", "2"))
    children = _serving_children(running.process.pid)
    assert len(children) == 1
    running.process.kill()  # no chance to tell the others
    running.process.wait()
    assert _gone(children[0], 10)
