"""Settings: one prefix, every variable documented, bad values refused in one line."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings

README = (Path(__file__).parents[2] / "docs" / "settings.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    for name in Settings.model_fields:
        assert f"`MNISTGRID_{name.upper()}`" in README, name


def test_settings_survive_the_trip_to_a_child_process_environment(monkeypatch):
    settings = Settings().with_overrides(database_url="sqlite:////tmp/x.db", lease_seconds=5.0)
    for key, value in settings.as_environment().items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_a_bad_variable_is_one_line_naming_it():
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "sweeps"],
        env={"MNISTGRID_LEASE_SECONDS": "soon", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: environment: MNISTGRID_LEASE_SECONDS: Input should be a valid number, "
        "unable to parse string as a number"
    )


# -- TLS to the servers --------------------------------------------------------------------------


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")  # only its presence is checked here
    return path


def test_a_postgres_url_checks_the_server_once_there_is_an_authority(ca_file):
    url = "postgresql+psycopg://mnistgrid:pw@main.example:5433/mnistgrid"
    settings = Settings(database_url=url, readonly_database_url=url, tls_ca_file=ca_file)
    expected = f"{url}?sslmode=verify-full&sslrootcert={ca_file}"
    assert settings.database_url == expected
    assert settings.readonly_database_url == expected
    # without one, the URL is the user's, as before
    assert Settings(database_url=url).database_url == url


def test_a_postgres_url_keeps_what_it_names_and_sqlite_is_untouched(ca_file):
    own = "postgresql://u:p@h/db?sslmode=verify-full&sslrootcert=/etc/ssl/other.crt"
    assert Settings(database_url=own, tls_ca_file=ca_file).database_url == own
    plain = "postgresql://u:p@h/db?sslmode=disable"  # plain text, asked for by name
    assert Settings(database_url=plain, tls_ca_file=ca_file).database_url == plain
    assert Settings(database_url="sqlite:///x.db", tls_ca_file=ca_file).database_url == (
        "sqlite:///x.db"
    )


def test_a_client_certificate_goes_with_its_key_into_the_url(ca_file, tmp_path):
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    cert.write_text("c")
    key.write_text("k")
    settings = Settings(
        database_url="postgresql://u@h/db",
        broker_url="rediss://u:p@h:6380/0",
        tls_ca_file=ca_file,
        tls_cert_file=cert,
        tls_key_file=key,
    )
    assert f"sslcert={cert}&sslkey={key}" in settings.database_url
    assert settings.broker_tls["ssl_certfile"] == str(cert)
    assert settings.broker_tls["ssl_keyfile"] == str(key)
    with pytest.raises(ValidationError, match="TLS_CERT_FILE and MNISTGRID_TLS_KEY_FILE"):
        Settings(tls_cert_file=cert)


@pytest.mark.parametrize("mode", ["allow", "prefer", "require", "verify-ca"])
def test_a_postgres_mode_that_does_not_check_the_server_is_refused(mode, ca_file):
    with pytest.raises(ValidationError, match=f"sslmode={mode} does not check"):
        Settings(database_url=f"postgresql://u@h/db?sslmode={mode}", tls_ca_file=ca_file)


def test_verify_full_without_an_authority_is_refused_before_any_connection():
    with pytest.raises(ValidationError, match="set MNISTGRID_TLS_CA_FILE"):
        Settings(database_url="postgresql://u@h/db?sslmode=verify-full")


def test_a_rediss_broker_checks_the_certificate_and_the_host_name(ca_file):
    tls = Settings(broker_url="rediss://u:p@main:6380/0", tls_ca_file=ca_file).broker_tls
    assert tls == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(ca_file),
    }
    assert Settings(broker_url="redis://127.0.0.1:6379/0", tls_ca_file=ca_file).broker_tls is None
    with pytest.raises(ValidationError, match="ssl_cert_reqs=none would not check"):
        Settings(broker_url="rediss://u:p@main:6380/0?ssl_cert_reqs=none")


def test_a_missing_tls_file_is_one_line_naming_it(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "sweeps"],
        env={"MNISTGRID_TLS_CA_FILE": str(tmp_path / "nope.crt"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: environment: MNISTGRID_TLS_CA_FILE: no such file: {tmp_path / 'nope.crt'}"
    )


def test_a_cli_override_is_validated_and_gets_the_tls_options(ca_file):
    settings = Settings(tls_ca_file=ca_file).with_overrides(database_url="postgresql://u@h/db")
    assert settings.database_url.endswith(f"?sslmode=verify-full&sslrootcert={ca_file}")
    with pytest.raises(BadInput, match="option: MNISTGRID_DATABASE_URL: .*sslmode=require"):
        Settings().with_overrides(database_url="postgresql://u@h/db?sslmode=require")
