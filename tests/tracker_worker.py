"""Run one bot instance's task tracker in its own process, for kill and memory tests.

Settings come from the environment (the test sets them; no `.env` is read).
`python tests/tracker_worker.py` runs until killed; with `--until-settled
TASK_ID` it exits once that task is settled and prints, as JSON, its resident
memory before the work and the highest seen while working (sampled every 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.audit_store import open_audit_log
from bot.adapters.hss import build_hss_client
from bot.adapters.slack_files import SlackFiles
from bot.adapters.slack_notifier import build_web_client
from bot.adapters.task_store import open_task_store
from bot.bootstrap import tracker_config
from bot.settings import Settings
from bot.tracking.tracker import TaskTracker


class PeakRss:
    """Sample this process's resident memory in a thread; keep the highest value."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def main(until_settled: str | None, lease_seconds: float) -> None:
    """Build the tracker from the environment's settings and run it."""
    settings = Settings(_env_file=None)
    hss = build_hss_client(settings)
    audit = await open_audit_log(settings.AUDIT_DB_URL)
    store = await open_task_store(settings.AUDIT_DB_URL)
    delivery = SlackFiles(build_web_client(settings))
    config = tracker_config(settings, idle_seconds=0.01, lease_seconds=lease_seconds)
    tracker = TaskTracker(store, hss, delivery, audit, config, owner="worker-process")
    print("ready", flush=True)
    runner = asyncio.create_task(tracker.run())
    try:
        if until_settled is None:
            await runner
            return
        with PeakRss() as rss:
            while True:
                task = await store.get(until_settled)
                if task is not None and task.settled:
                    break
                await asyncio.sleep(0.02)
        print(json.dumps({"baseline": rss.baseline, "peak": rss.peak, "state": task.state}))
    finally:
        await tracker.stop()
        await runner
        await delivery.aclose()
        await store.aclose()
        await audit.aclose()
        await hss.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--until-settled")
    parser.add_argument("--lease-seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.until_settled, args.lease_seconds))
