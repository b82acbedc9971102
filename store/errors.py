"""Errors raised by the store.

StoreError
├── DatabaseUnavailableError   Postgres cannot be reached, or the database is missing     retryable
├── SecretKeyError             ASHBY_SYNC_SECRET_KEY cannot decrypt what was stored with another key
├── AccountNotFoundError       no account by that name or id
├── AccountExistsError         an account by that name exists already
└── PassSupersededError        another sync pass of the resource began since this one (its lock was lost)
"""

from core.errors import AppError


class StoreError(AppError):
    """Base of the store's errors."""


class DatabaseUnavailableError(StoreError):
    """Postgres cannot be reached or the database does not exist."""

    retryable = True


class SecretKeyError(StoreError):
    """Stored secrets cannot be decrypted with the configured key."""


class AccountNotFoundError(StoreError):
    """No account matches."""


class AccountExistsError(StoreError):
    """The account name is taken."""


class PassSupersededError(StoreError):
    """Another pass of the resource began since this one did (this one lost its lock): its pages must not commit."""
