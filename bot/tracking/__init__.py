"""Follow submitted export tasks until their file is in the Slack thread: durable, leased.

`model` (the task, its states and their rules: pure) and `ports` (what the
tracker needs from the task store and Slack) are all an adapter may import;
`spool` writes downloads to disk; `lease` and `worker` are the lease loop,
which knows nothing of export tasks; `steps` dispatches a claimed task by state
to `poll`, `deliver`, `share` and `report`; `tracker.TaskTracker` ties them
together behind `bot.ports.TaskFollower`.

Nothing is re-exported here on purpose: importing `bot.tracking.model` must not
load the worker (and through it the application layer).
"""
