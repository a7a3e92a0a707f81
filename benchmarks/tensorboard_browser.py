"""Open a study in TensorBoard, check its tags through TensorBoard's HTTP data API, and screenshot it.

    .venv/bin/python benchmarks/tensorboard_browser.py runs/tb-demo --screenshot docs/images/tensorboard.png

Starts `tensorboard --logdir DIR --host 127.0.0.1` on a free port, asks /data/runs and
/data/plugin/scalars/tags which runs and tags it serves, checks that every run folder under DIR with an
event file is listed with distgan's tags, then loads the scalars page in headless Chromium (Debian's
`chromium` package) and saves a screenshot. Exits 0 and says why when chromium is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from distgan.launch import free_port

EXPECTED_TAGS = ("train/loss_d", "train/loss_g", "progress/real_images")


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logdir")
    parser.add_argument("--screenshot", default="docs/images/tensorboard.png")
    args = parser.parse_args()
    runs = sorted(str(p.parent.relative_to(args.logdir)) for p in Path(args.logdir).rglob("events.out.tfevents.*"))
    if not runs:
        print(f"{args.logdir} holds no event files; run a study first")
        return 1
    port = free_port()
    board = subprocess.Popen([str(Path(sys.executable).with_name("tensorboard")), "--logdir", args.logdir,
                              "--host", "127.0.0.1", "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                served = get_json(f"{base}/data/runs")
                if set(runs) <= set(served):
                    break
            except OSError:
                pass
            time.sleep(1)
        tags = get_json(f"{base}/data/plugin/scalars/tags")
        missing = [(run, tag) for run in runs for tag in EXPECTED_TAGS if tag not in tags.get(run, {})]
        print(f"TensorBoard serves {len(tags)} runs: {', '.join(sorted(tags))}")
        if missing:
            print(f"missing tags: {missing}")
            return 1
        print(f"every run lists {', '.join(EXPECTED_TAGS)} (and eval/*, bytes_*/*)")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            print("no chromium here (apt-get install chromium); skipped the screenshot")
            return 0
        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
        page = f"{base}/#scalars&tagFilter=eval%7Ctrain%2Floss"  # the scalars page: evaluations and losses first
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1600,1000", "--virtual-time-budget=15000",
                        f"--screenshot={Path(args.screenshot).resolve()}", page],
                       check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"screenshot: {args.screenshot}")
        return 0
    finally:
        board.terminate()
        board.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
