"""Simulated ranks are threads taking turns, so they share one malloc arena instead of each getting its own."""

import ctypes.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or "libc.so.6" not in str(
    ctypes.util.find_library("c")), reason="mallopt arenas are glibc's")

COUNT_ARENAS = r"""
import ctypes, json, os, re, sys, tempfile, threading
import torch
from distgan.transport.sim import share_one_malloc_arena

libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]

def arenas():
    fd, path = tempfile.mkstemp()
    os.close(fd)
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    text = open(path).read()
    os.unlink(path)
    return len(re.findall(r'<heap nr="\d+">', text))

before = arenas()
shared = share_one_malloc_arena() if sys.argv[1] == "share" else None
threads = [threading.Thread(target=lambda: torch.randn(300_000).sum()) for _ in range(40)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"before": before, "after": arenas(), "shared": shared}))
"""


def _arenas(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", COUNT_ARENAS, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_threads_allocate_from_the_arenas_that_exist_once_shared():
    alone = _arenas("alone")
    assert alone["after"] > alone["before"]  # 40 allocating threads open arenas of their own by default
    shared = _arenas("share")
    assert shared["shared"] is True
    assert shared["after"] == shared["before"]
