"""``cobuild serve`` stops when told to (SIGTERM: systemd, a container, ``kill``) even while
it is answering: a stop signal that lands while waitress is busy with a connection used to be
swallowed there, and the server ran on until killed."""
from __future__ import annotations

import secrets
import signal
import threading

import requests

from tests.api_support import ServerProcess


def test_a_busy_server_stops_on_sigterm_and_says_so(tmp_path):
    running = ServerProcess(tmp_path / "var", secrets.token_urlsafe(24))
    done = threading.Event()
    answered: list[int] = []

    def keep_asking() -> None:
        with requests.Session() as session:
            while not done.is_set():
                try:
                    answered.append(session.get(running.base_url + "/no-such-page", timeout=5).status_code)
                except requests.RequestException:
                    return  # the server closed the connection: it is stopping

    clients = [threading.Thread(target=keep_asking) for _ in range(8)]
    for client in clients:
        client.start()
    try:
        while len(answered) < 400:  # busy: connections open, answers being written
            done.wait(0.05)
        running.process.send_signal(signal.SIGTERM)  # once, as systemd or a container does
        out, _ = running.process.communicate(timeout=120)
    finally:
        done.set()
        for client in clients:
            client.join()
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
    assert running.process.returncode == 0, out
    assert "cobuild API stopped" in out and "Traceback" not in out, out
    assert set(answered) == {404}
