"""The data lifecycle: what the store still holds for objects that forgot it (pinned versions
resolved from the store), what live objects reference, retention (`ballast gc`) and the erasure
of one dataset version (`ballast erase`). Decisions are pure functions over typed values; the
commands in ballast.commands do the reading and deleting."""
