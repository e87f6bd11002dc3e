"""Listener groups of the Slack app; each module has `register(app, deps)`."""
