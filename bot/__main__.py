"""`python -m bot …`: the same command line as `hss-export-bot …`."""

from bot.cli import main

raise SystemExit(main())
