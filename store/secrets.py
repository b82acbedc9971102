"""Encryption at rest for API keys and webhook secrets (Fernet; several keys allow rotation)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import ConfigError
from store.errors import SecretKeyError


def generate_key() -> str:
    """A new random Fernet key, for ASHBY_SYNC_SECRET_KEY."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts with the first key of ASHBY_SYNC_SECRET_KEY and decrypts with any of them.

    The variable holds one Fernet key, or several separated by commas (newest first) while rotating.
    """

    def __init__(self, keys: SecretStr) -> None:
        raw = [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]
        if not raw:
            raise ConfigError("ASHBY_SYNC_SECRET_KEY is empty: run `ashby-sync keygen` for a key")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in raw])
        except ValueError as exc:
            raise ConfigError(
                "ASHBY_SYNC_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes): "
                "run `ashby-sync keygen` for one"
            ) from exc

    def encrypt(self, secret: SecretStr) -> bytes:
        return self._fernet.encrypt(secret.get_secret_value().encode())

    def decrypt(self, token: bytes) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(token).decode())
        except InvalidToken as exc:
            raise SecretKeyError(
                "stored secrets cannot be decrypted: ASHBY_SYNC_SECRET_KEY is not the key they were stored with"
            ) from exc
