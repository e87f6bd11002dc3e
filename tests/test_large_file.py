"""Memory stays flat while a 200 MB export streams from HSS, through the bot, into Slack.

The bot runs in a process of its own (`tracker_worker.py`), so its resident
memory is measured alone; the fakes serve and hash the 200 MB in this process
without keeping it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from db_fixtures import database
from tracker_support import (
    fake_file_sha256,
    tracker_env,
    tracker_settings,
    tracker_stack,
)

from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack

MiB = 1024 * 1024
SIZE = 200 * MiB
CHUNK = 256 * 1024
MAX_GROWTH = 50 * MiB
WORKER = Path(__file__).with_name("tracker_worker.py")


async def test_a_200_mb_file_goes_through_with_flat_memory(tmp_path: Path) -> None:
    """The bot's memory grows by far less than the file while it streams 200 MB to Slack."""
    async with (
        FakeHss(file_size=SIZE, chunk_size=CHUNK, polls_until_done=1) as hss,
        FakeSlack(keep_bytes=False) as slack,
    ):
        with database("sqlite", tmp_path) as db:
            overrides = {"UPLOAD_MAX_BYTES": 2 * SIZE}
            async with tracker_stack(tracker_settings(hss, slack, db.url, **overrides)) as bot:
                task_id = (await bot.export()).task.task_id  # recorded; this process won't run it
            env = {
                **os.environ,
                **tracker_env(hss, slack, db.url, **overrides),
                "TMPDIR": str(tmp_path),
            }
            worker = await asyncio.create_subprocess_exec(
                *(sys.executable, str(WORKER), "--until-settled", task_id),
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(worker.communicate(), timeout=120)

    assert worker.returncode == 0, err.decode()[-2000:]
    report = json.loads(out.decode().splitlines()[-1])
    growth = report["peak"] - report["baseline"]
    print(f"200 MB through the bot: resident memory grew by {growth / MiB:.1f} MiB")
    served = hss.tasks[task_id]
    assert report["state"] == "done"
    assert [(f.size, f.sha256) for f in slack.files] == [
        (SIZE, fake_file_sha256(served.file_id, SIZE, CHUNK))
    ]
    assert growth < MAX_GROWTH, f"memory grew by {growth / MiB:.1f} MiB"
