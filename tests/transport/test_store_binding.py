"""The rendezvous store of a run started by distgan listens on the address it was given, never on every interface:
a TCPStore left to itself listens on all of them, and it has no authentication."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from distgan.launch import free_port

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss to list listening sockets")]


def listening_on(port: int) -> list[str]:
    """The local addresses of the TCP sockets listening on `port` ("127.0.0.1:PORT", "*:PORT", "[::]:PORT")."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.split()[3].rsplit(":", 1)[-1] == str(port)]


def test_the_store_listens_on_loopback_only(tmp_path):
    port = free_port()
    run = subprocess.Popen([sys.executable, "-m", "distgan", "train", "--method", "md-gan", "--workers", "3",
                            "--dataset", "digits", "--steps", "40", "--master-port", str(port),
                            "--out", str(tmp_path / "run"), "--no-progress"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not seen and run.poll() is None and time.monotonic() < deadline:
            seen = listening_on(port)
            time.sleep(0.2)
        _, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    assert seen == [f"127.0.0.1:{port}"]  # not *:PORT, 0.0.0.0:PORT or [::]:PORT
