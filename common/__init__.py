"""Helpers every app uses and no app owns: row locks, the read-only admin mixin, environment
readers, month ranges and the one way to queue a task. Imports no app of the portal."""
