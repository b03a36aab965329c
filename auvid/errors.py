"""User-facing errors: each says what went wrong and what to do; the CLI prints one line."""
from __future__ import annotations


class AuvidError(Exception):
    """An error the user can fix; the CLI prints its message and exits non-zero."""

    exit_code = 2


class InputError(AuvidError):
    """A missing, unreadable or undecodable input (video, image folder, camera)."""


class OutputError(AuvidError):
    """An output path that cannot be written."""


class ModelError(AuvidError):
    """A model, checkpoint or engine that is missing, corrupt or does not match."""


class ConfigError(AuvidError):
    """A bad option or configuration file."""


class Interrupted(AuvidError):
    """The run was stopped by the user (Ctrl-C); what was processed is kept."""

    exit_code = 130
