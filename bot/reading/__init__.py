"""Read the file an export task produced: detect its format, summarize it, compare two.

Pure (bytes or a path in, values out) except `worker`, which runs the same
reading in a separate process so the bot's event loop and memory stay free.
"""

from bot.reading.columns import ColumnMap, Expected
from bot.reading.detect import Payload, ReadLimits, detect
from bot.reading.digest import DIGEST_VERSION, Digest, DigestDiff, DigestError, diff
from bot.reading.errors import UnreadableExport
from bot.reading.read import Report, read_export
from bot.reading.render_blocks import render_blocks, render_no_summary, thread_message
from bot.reading.render_text import render_text
from bot.reading.summary import ClusterRisk, Summary, TopContainer
from bot.reading.worker import SummaryWorker

__all__ = [
    "DIGEST_VERSION",
    "ClusterRisk",
    "ColumnMap",
    "Digest",
    "DigestDiff",
    "DigestError",
    "Expected",
    "Payload",
    "ReadLimits",
    "Report",
    "Summary",
    "SummaryWorker",
    "TopContainer",
    "UnreadableExport",
    "detect",
    "diff",
    "read_export",
    "render_blocks",
    "render_no_summary",
    "render_text",
    "thread_message",
]
