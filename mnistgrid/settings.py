"""The one place that reads the environment: every `MNISTGRID_*` variable is a field here.

    MNISTGRID_DATABASE_URL=postgresql+psycopg://user@host/db mnistgrid status

CLI options override these fields (see `Settings.with_overrides`); nothing else in the code base
reads `os.environ` for configuration.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from mnistgrid.errors import BadInput, describe_validation_error

DEFAULT_DATABASE_URL = "sqlite:///mnistgrid.db"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class Settings(BaseSettings):
    """Process-wide settings, read once from `MNISTGRID_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MNISTGRID_", frozen=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # A PostgreSQL role that may only read, as a URL with its password: `mnistgrid db upgrade`
    # creates or refreshes it with SELECT on every table (db/roles.py). Unset: no such role.
    readonly_database_url: str | None = None
    broker_url: str = DEFAULT_BROKER_URL
    # Where MNIST lives: idx files (gzipped or raw) or a fastai `mnist_png` tree. Unset: download.
    data_dir: Path | None = None
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "mnistgrid")
    # Tried in order when MNIST has to be downloaded; each must serve the four idx .gz files.
    mirrors: tuple[str, ...] = DEFAULT_MIRRORS
    reports_dir: Path = Path("reports")
    # torch threads per worker process; 0 means "cores / concurrency".
    torch_threads: int = Field(default=0, ge=0)
    max_grid_jobs: int = Field(default=10_000, ge=1)
    # A job whose lease (heartbeat) is older than this is taken to have lost its worker.
    lease_seconds: float = Field(default=120.0, gt=0)
    # The longest a job may run; Redis redelivers unacknowledged tasks after this (plus margin).
    max_job_seconds: float = Field(default=4 * 3600.0, gt=0)
    # Most jobs trained together as one stack (same shape, different lr or seed).
    group_size: int = Field(default=16, ge=1, le=256)
    # ... and fewer when the stack would need more memory than this (MiB, estimated).
    group_memory_mb: int = Field(default=2048, ge=16)
    # Polling of the serverless filesystem broker (kombu's default of 1 s makes queues sluggish).
    broker_polling_interval: float = Field(default=0.05, gt=0)
    # Attempts before a job that keeps failing (or killing its worker) is given up as failed.
    max_attempts: int = Field(default=3, ge=1)
    # `mnistgrid serve`: where the web view listens, and its login as `user:password`. Without
    # a login it listens on a loopback address only (see `exposed_without_login`).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_auth: SecretStr | None = None
    # The host names (Host header) the web view answers besides loopback ones, comma separated:
    # names, addresses, `*.example.com` for its subdomains, `*` for any. Only with a login:
    # without one it answers loopback names only, so that a page on another site whose name
    # is rebound to 127.0.0.1 (DNS rebinding) cannot read it. Unset, with a login: `*`.
    web_hosts: str | None = None
    # Flower's address as a browser reaches it (http://127.0.0.1:5555): the web view links
    # each sweep's tasks there. Unset: no links.
    flower_url: str | None = None

    @field_validator(
        "data_dir", "web_auth", "web_hosts", "flower_url", "readonly_database_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("web_auth")
    @classmethod
    def _user_and_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        user, colon, password = value.get_secret_value().partition(":")
        if not (user and colon and password):
            raise ValueError("must be user:password, both non-empty")
        return value

    @field_validator("web_hosts")
    @classmethod
    def _host_names(cls, value: str | None) -> str | None:
        if value is None:
            return None
        hosts = [
            host.strip().lower().removeprefix("[").removesuffix("]") for host in value.split(",")
        ]
        for host in hosts:
            if not HOST_PATTERN.fullmatch(host):
                raise ValueError(
                    f"{host!r} is not a host name, an address, *.domain or *; "
                    "list them separated by commas"
                )
        return ",".join(hosts)

    @field_validator("flower_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/") if value else value

    @property
    def web_login(self) -> tuple[str, str] | None:
        """The web view's (user, password), or None when it needs no login."""
        if self.web_auth is None:
            return None
        user, _, password = self.web_auth.get_secret_value().partition(":")
        return user, password

    @property
    def web_allowed_hosts(self) -> tuple[str, ...] | None:
        """The host names the web view answers besides loopback ones (`*`: any); None
        without a login: loopback names only."""
        if self.web_auth is None:
            return None
        return tuple(self.web_hosts.split(",")) if self.web_hosts else ("*",)

    @property
    def hosts_beyond_loopback_without_login(self) -> list[str]:
        """The names of MNISTGRID_WEB_HOSTS that only a login may open the web view to."""
        if self.web_auth is not None or self.web_hosts is None:
            return []
        return [host for host in self.web_hosts.split(",") if not is_loopback(host)]

    @property
    def exposed_without_login(self) -> bool:
        """True when the web view would listen beyond this machine with no login."""
        return self.web_auth is None and not is_loopback(self.web_host)

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the CLI options that were given (None means "not given")."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return self.model_copy(update=given) if given else self

    def as_environment(self) -> dict[str, str]:
        """These settings as `MNISTGRID_*` variables, for the processes this one starts."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):  # its str() is a mask
                value = value.get_secret_value()
            text = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
            env[f"MNISTGRID_{name.upper()}"] = text
        return env


# An entry of MNISTGRID_WEB_HOSTS: `*`, or a name or address, maybe after `*.`.
HOST_PATTERN = re.compile(r"\*|(\*\.)?[a-z0-9_.:-]+")


def is_loopback(host: str) -> bool:
    """`localhost` or an address in 127.0.0.0/8 or ::1; a name or any other address is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, SettingsError) as error:
        raise BadInput(f"environment: {settings_error(error)}") from None


def settings_error(error: ValidationError | SettingsError) -> str:
    """`MNISTGRID_LEASE_SECONDS: Input should be a valid number`, in one line."""
    if isinstance(error, SettingsError):
        return str(error)
    key, _, message = describe_validation_error(error).partition(": ")
    return f"MNISTGRID_{key.upper()}: {message}"
