"""Base of every error ashby-sync raises on purpose.

AppError
├── ConfigError        a setting is missing or malformed (exit 2, one line)
└── (each package's own tree: ashby_api.errors, store.errors, ...)
"""

from typing import ClassVar


class AppError(Exception):
    """An error we raise on purpose; its message is safe to show a user on one line."""

    retryable: ClassVar[bool] = False


class ConfigError(AppError):
    """A setting is missing or malformed."""
