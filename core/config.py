"""Process settings, read once from the environment in `__main__` and app factories."""

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.errors import ConfigError

DEFAULT_DATABASE_URL = "postgresql://localhost/ashby_sync"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
# The cron starts passes at the minutes of the hour that are multiples of the interval: only a divisor of 60 gives
# the same gap every time (7 would leave 4 minutes between :56 and :00).
SYNC_INTERVALS = tuple(n for n in range(1, 61) if 60 % n == 0)


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
    sync_interval_minutes: int = 5
    sync_retry_failed_minutes: int = Field(default=15, ge=1, le=24 * 60)
    sync_full_interval_hours: int = Field(default=24, ge=0, le=24 * 366)
    worker_max_jobs: int = Field(default=10, ge=1, le=100)
    worker_poll_delay_ms: float = Field(default=20, ge=1, le=5000)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    webhook_secret_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    webhook_batch_max: int = Field(default=256, ge=1, le=5000)
    webhook_batch_wait_ms: float = Field(default=0.0, ge=0, le=100)

    @field_validator("sync_interval_minutes")
    @classmethod
    def _divides_the_hour(cls, value: int) -> int:
        if value not in SYNC_INTERVALS:
            raise ValueError(f"must divide 60: one of {', '.join(map(str, SYNC_INTERVALS))}")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Self:
        """Read DATABASE_URL, REDIS_URL, ASHBY_API_KEY, ... (each field's upper-case name)."""
        values = {f: env[f.upper()] for f in cls.model_fields if env.get(f.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]).upper() if err["loc"] else "environment"
            # a validator's own message, without pydantic's "Value error, " in front of it
            message = str(err["ctx"]["error"]) if err["type"] == "value_error" and "ctx" in err else err["msg"]
            raise ConfigError(f"{name}: {message}") from exc

    def secret_key(self) -> SecretStr:
        """The Fernet key that encrypts secrets at rest; a clear error when it is not set."""
        if self.ashby_sync_secret_key is None:
            raise ConfigError("ASHBY_SYNC_SECRET_KEY is not set: run `ashby-sync keygen` and export the key it prints")
        return self.ashby_sync_secret_key
