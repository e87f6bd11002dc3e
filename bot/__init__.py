"""hss-export-bot: export Huawei Cloud HSS container inventories from Slack."""

__version__ = "0.1.0"
