"""Process settings, read once from the environment in `__main__` and app factories."""

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.errors import ConfigError

DEFAULT_DATABASE_URL = "postgresql://localhost/ashby_sync"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"


class Settings(BaseModel):
    """Everything a process needs from its environment; each field is read from its upper-case name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    ashby_api_key: SecretStr | None = None
    ashby_base_url: str = "https://api.ashbyhq.com"
    ashby_sync_secret_key: SecretStr | None = None
    log_format: Literal["json", "console"] = "console"
    ashby_max_in_flight: int = Field(default=4, ge=1, le=64)
    sync_interval_minutes: int = Field(default=5, ge=1, le=60)
    worker_max_jobs: int = Field(default=10, ge=1, le=100)
    worker_poll_delay_ms: float = Field(default=20, ge=1, le=5000)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    webhook_secret_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    webhook_batch_max: int = Field(default=256, ge=1, le=5000)
    webhook_batch_wait_ms: float = Field(default=0.0, ge=0, le=100)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Self:
        """Read DATABASE_URL, REDIS_URL, ASHBY_API_KEY, ... (each field's upper-case name)."""
        values = {f: env[f.upper()] for f in cls.model_fields if env.get(f.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]).upper() if err["loc"] else "environment"
            raise ConfigError(f"{name}: {err['msg']}") from exc

    def secret_key(self) -> SecretStr:
        """The Fernet key that encrypts secrets at rest; a clear error when it is not set."""
        if self.ashby_sync_secret_key is None:
            raise ConfigError("ASHBY_SYNC_SECRET_KEY is not set: run `ashby-sync keygen` and export the key it prints")
        return self.ashby_sync_secret_key
