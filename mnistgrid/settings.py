"""The one place that reads the environment: every `MNISTGRID_*` variable is a field here.

    MNISTGRID_DATABASE_URL=postgresql+psycopg://user@host/db mnistgrid status

CLI options override these fields (see `Settings.with_overrides`); nothing else in the code base
reads `os.environ` for configuration.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
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

    # TLS to the servers, checked against this certificate authority (a PEM file): Redis when
    # the broker URL is rediss://, PostgreSQL on every URL (sslmode=verify-full and this
    # sslrootcert are added to a URL that names neither). Defined before the URLs, whose
    # validators read them. Unset: rediss:// trusts the system's authorities.
    tls_ca_file: Path | None = None
    # A client certificate and its key (PEM), for servers that ask for one: both or neither.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
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
    # A running stack hands part of its members to idle workers at an epoch boundary.
    share_stacks: bool = True
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
        "data_dir",
        "web_auth",
        "web_hosts",
        "flower_url",
        "readonly_database_url",
        "tls_ca_file",
        "tls_cert_file",
        "tls_key_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _key_with_its_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("set MNISTGRID_TLS_CERT_FILE and MNISTGRID_TLS_KEY_FILE together")
        return value

    @field_validator("database_url", "readonly_database_url")
    @classmethod
    def _postgres_checks_the_server(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        files = {
            key: info.data.get(key) for key in ("tls_ca_file", "tls_cert_file", "tls_key_file")
        }
        return postgres_tls_url(value, **files)

    @field_validator("broker_url")
    @classmethod
    def _rediss_checks_the_server(cls, value: str) -> str:
        if urlsplit(value).scheme == "rediss":
            query = dict(parse_qsl(urlsplit(value).query))
            wanted = query.get("ssl_cert_reqs", "required").lower()
            if wanted not in ("required", "cert_required"):
                raise ValueError(
                    f"ssl_cert_reqs={query['ssl_cert_reqs']} would not check the server's "
                    "certificate: leave it out (MNISTGRID_TLS_CA_FILE names the authority)"
                )
        return value

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
    def broker_tls(self) -> dict[str, object] | None:
        """What kombu and redis-py need to reach a rediss:// broker and check its certificate
        and host name (Celery's `broker_use_ssl`); None for any other broker."""
        if urlsplit(self.broker_url).scheme != "rediss":
            return None
        options: dict[str, object] = {
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
            "ssl_check_hostname": True,
            "ssl_ca_certs": str(self.tls_ca_file) if self.tls_ca_file else None,
        }
        if self.tls_cert_file is not None:
            options |= {"ssl_certfile": str(self.tls_cert_file)}
            options |= {"ssl_keyfile": str(self.tls_key_file)}
        return options

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
        """A copy with the CLI options that were given (None means "not given"), validated as
        the environment's values are (a --database-url gets its TLS options too)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        if not given:
            return self
        try:
            return type(self).model_validate(self.model_dump() | given)
        except ValidationError as error:
            raise BadInput(f"option: {settings_error(error)}") from None

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


# PostgreSQL's sslmode values that encrypt without checking who answers (or may not encrypt).
UNCHECKED_SSLMODES = {"allow", "prefer", "require", "verify-ca"}


def postgres_tls_url(
    url: str,
    tls_ca_file: Path | None = None,
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
) -> str:
    """A PostgreSQL URL that checks the server when there is TLS: with a certificate
    authority, `sslmode=verify-full` and it as `sslrootcert` unless the URL names its own (and
    the client certificate as `sslcert`/`sslkey`). A mode that would not check the server's
    certificate and name is refused; `disable` (plain text, asked for by name) is kept. Any
    other URL is returned as it is."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return url
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    mode = query.get("sslmode")
    if mode in UNCHECKED_SSLMODES:
        raise ValueError(
            f"sslmode={mode} does not check the server's certificate and name: "
            "use verify-full (with MNISTGRID_TLS_CA_FILE), or disable for plain text"
        )
    if mode != "disable":
        extra = {
            "sslmode": "verify-full" if tls_ca_file else None,
            "sslrootcert": tls_ca_file,
            "sslcert": tls_cert_file,
            "sslkey": tls_key_file,
        }
        for key, value in extra.items():
            if value is not None and key not in query:
                query[key] = str(value)
    if query.get("sslmode") == "verify-full" and "sslrootcert" not in query:
        raise ValueError(
            "sslmode=verify-full needs the certificate authority: set MNISTGRID_TLS_CA_FILE"
        )
    if query == dict(parse_qsl(parts.query, keep_blank_values=True)):
        return url
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:")))


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
