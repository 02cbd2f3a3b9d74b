"""The compose files of a second machine, checked without a Docker engine (docs/stack.md, "Add a
machine"): docker-compose.yml publishes nothing of Redis or PostgreSQL; docker-compose.publish.yml
publishes both where .env says, over TLS only, and every mnistgrid service checks the servers;
docker-compose.publish-plaintext.yml is refused beyond loopback unless .env allows it;
docker-compose.workers.yml runs the main stack's workers against the main host, without
writing reports; scripts/make-certs.sh makes a chain that verifies; keys stay out of git and
of the image. tests/compose runs them for real.

    python -m pytest tests/unit/test_compose_hosts.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from mnistgrid.settings import Settings
from tests.unit.test_compose import (
    REAL_ENV,
    REPO,
    VARIABLE,
    interpolate,
    mnistgrid_command,
    read_env_file,
    seconds,
    strings,
)

BASE = REPO / "docker-compose.yml"
PUBLISH = REPO / "docker-compose.publish.yml"
PLAINTEXT = REPO / "docker-compose.publish-plaintext.yml"
WORKERS = REPO / "docker-compose.workers.yml"
WORKERS_ENV_EXAMPLE = REPO / ".env.workers.example"

RAW_BASE = yaml.safe_load(BASE.read_text())
RAW_PUBLISH = yaml.safe_load(PUBLISH.read_text())
RAW_PLAINTEXT = yaml.safe_load(PLAINTEXT.read_text())
RAW_WORKERS = yaml.safe_load(WORKERS.read_text())
PUBLISHED = {
    "REDIS_PUBLISH_ADDRESS": "192.0.2.10",
    "POSTGRES_PUBLISH_ADDRESS": "192.0.2.10",
}
WORKERS_ENV = read_env_file(WORKERS_ENV_EXAMPLE)
WORKERS_REAL_ENV = {
    key: value.replace("change-me", f"real-{key}") for key, value in WORKERS_ENV.items()
}
WORKER_HOST = interpolate(RAW_WORKERS, WORKERS_REAL_ENV)["services"]
MNISTGRID_SERVICES = ["migrate", "worker", "worker-gpu", "flower", "web", "orchestrator"]


def merged(*overlays: dict, env: dict[str, str]) -> dict:
    """docker-compose.yml with `overlays`, merged as compose merges files: mappings by key
    (environment included), volumes by their target, ports appended, the rest replaced."""
    services = {name: dict(body) for name, body in RAW_BASE["services"].items()}
    for overlay in overlays:
        for name, body in overlay["services"].items():
            into = services[name]
            for key, value in body.items():
                if key in ("environment", "healthcheck"):
                    into[key] = {**into.get(key, {}), **value}
                elif key == "volumes":
                    kept = [
                        v for v in into.get(key, []) if v.split(":")[-2] not in target_of(value)
                    ]
                    into[key] = kept + value
                elif key == "ports":
                    into[key] = into.get(key, []) + value
                else:
                    into[key] = value
    return interpolate({"services": services}, env)["services"]


def target_of(volumes: list[str]) -> set[str]:
    return {volume.split(":")[-2] for volume in volumes}


TLS = merged(RAW_PUBLISH, env=REAL_ENV | PUBLISHED)
PLAIN = merged(RAW_PLAINTEXT, env=REAL_ENV | PUBLISHED)


# -- published only when .env says where ----------------------------------------------------------


def test_the_main_stack_alone_publishes_neither_redis_nor_postgres():
    for name in ("redis", "postgres"):
        assert "ports" not in RAW_BASE["services"][name], f"{name} published by default"


@pytest.mark.parametrize("stack", [TLS, PLAIN], ids=["tls", "plaintext"])
def test_publishing_binds_the_address_and_port_of_env_each(stack):
    assert stack["redis"]["ports"] == ["192.0.2.10:6380:6379"]
    assert stack["postgres"]["ports"] == ["192.0.2.10:5433:5432"]
    others = {name for name, body in stack.items() if body.get("ports")}
    assert others == {"redis", "postgres", "flower", "web"}


@pytest.mark.parametrize("overlay", [RAW_PUBLISH, RAW_PLAINTEXT], ids=["tls", "plaintext"])
def test_the_addresses_are_required_and_have_no_default(overlay):
    ports = strings([overlay["services"][name]["ports"] for name in ("redis", "postgres")])
    for port in ports:
        address = port.split("}:")[0] + "}"
        assert VARIABLE.fullmatch(address)["sep"] == ":?", port


# -- TLS only, and every client checks the server -----------------------------------------------


def redis_tls_arguments() -> list[str]:
    """The arguments docker-compose.yml's Redis entrypoint adds once REDIS_TLS_DIR is set."""
    script = RAW_BASE["services"]["redis"]["entrypoint"][2]
    block = script.split('if [ -n "$${REDIS_TLS_DIR:-}" ]; then')[1].split("\nfi\n")[0]
    return block.replace("\\\n", " ").replace("$$", "$").split()


def test_published_redis_speaks_tls_only():
    assert TLS["redis"]["environment"]["REDIS_TLS_DIR"] == "/run/mnistgrid/tls"
    argv = redis_tls_arguments()
    assert argv[argv.index("--port") + 1] == "0", "no plain-text port"
    assert argv[argv.index("--tls-port") + 1] == "6379"
    assert argv[argv.index("--tls-auth-clients") + 1] == "no"  # a password, no client certs
    assert "--tls-cert-file" in argv and "--tls-key-file" in argv
    health = " ".join(TLS["redis"]["healthcheck"]["test"])
    assert "redis-cli --tls --cacert /run/mnistgrid/tls/ca.crt --user mnistgrid ping" in health


def test_published_postgres_takes_tcp_over_tls_only():
    shell, option, script = TLS["postgres"]["entrypoint"]
    assert (shell, option) == ("sh", "-c")
    assert "'local all all trust' 'hostssl all all all scram-sha-256'" in script
    assert "host all" not in script.replace("hostssl all", "")
    assert "-c ssl=on" in script and "hba_file=" in script
    assert "exec docker-entrypoint.sh postgres " in script


def test_only_redis_and_postgres_get_the_private_key():
    for name, body in TLS.items():
        mounted = " ".join(body.get("volumes", []))
        holds_key = "server.key" in mounted or mounted.endswith("/tls:/run/mnistgrid/tls:ro")
        assert holds_key == (name in {"redis", "postgres", "check-env"}), name
    # check-env only looks: its files are there and not empty
    assert TLS["check-env"]["volumes"][-1].endswith(":ro")


@pytest.mark.parametrize("name", MNISTGRID_SERVICES)
def test_every_mnistgrid_service_checks_the_servers_certificates(name, tmp_path):
    env = TLS[name]["environment"]
    assert env["MNISTGRID_TLS_CA_FILE"] == "/run/mnistgrid/tls/ca.crt"
    assert any(v.endswith(":/run/mnistgrid/tls/ca.crt:ro") for v in TLS[name]["volumes"])
    if "MNISTGRID_BROKER_URL" in env:
        assert env["MNISTGRID_BROKER_URL"].startswith("rediss://mnistgrid:")
    for key in ("MNISTGRID_DATABASE_URL", "MNISTGRID_READONLY_DATABASE_URL"):
        if key in env:
            assert env[key].endswith("@postgres:5432/mnistgrid?sslmode=verify-full"), env[key]
    # and the settings take them: the authority's file stands in for the mounted one
    ca = tmp_path / "ca.crt"
    ca.write_text("ca")
    given = {k.removeprefix("MNISTGRID_").lower(): v for k, v in env.items() if "MNISTGRID_" in k}
    settings = Settings(**(given | {"tls_ca_file": ca}))
    if "broker_url" in given:
        assert settings.broker_tls["ssl_ca_certs"] == str(ca)
    if "database_url" in given:
        assert settings.database_url.endswith(f"sslmode=verify-full&sslrootcert={ca}")


@pytest.mark.parametrize("name", MNISTGRID_SERVICES)
def test_publishing_gives_no_service_a_credential_it_did_not_hold(name):
    before = RAW_BASE["services"][name].get("environment", {})
    after = RAW_PUBLISH["services"][name]["environment"]
    held = {m["name"] for text in strings(before) for m in VARIABLE.finditer(text)}
    now = {m["name"] for text in strings(after) for m in VARIABLE.finditer(text)}
    assert now <= held
    assert set(after) - set(before) <= {"MNISTGRID_TLS_CA_FILE"}


# -- check-env: one script, three refusals ------------------------------------------------------


def check_env_script(raw: dict) -> str:
    shell, option, script = raw["services"]["check-env"]["entrypoint"]
    assert (shell, option) == ("sh", "-c")
    return script


def test_the_worker_host_runs_the_main_stacks_check_env_script():
    assert check_env_script(RAW_WORKERS) == check_env_script(RAW_BASE)


def run_check_env(
    environment: dict[str, str], tls: Path | None = None
) -> subprocess.CompletedProcess:
    """The script as the container runs it; /run/mnistgrid/tls becomes `tls`."""
    script = check_env_script(RAW_BASE).replace("$$", "$")
    if tls is not None:
        script = script.replace("/run/mnistgrid/tls", str(tls))
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_env_refuses_tls_while_a_certificate_or_key_is_missing(tmp_path):
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "server.crt").write_text("")  # empty: as good as missing
    wanted = TLS["check-env"]["environment"]
    done = run_check_env({k: wanted[k] for k in ("TLS_FILES", "TLS_FILES_SOURCE")}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: TLS needs server.crt server.key in ./certs/tls: make them with "
        'scripts/make-certs.sh (docs/stack.md, "Add a machine")'
    ]
    (tmp_path / "server.crt").write_text("crt")
    (tmp_path / "server.key").write_text("key")
    done = run_check_env({k: wanted[k] for k in ("TLS_FILES", "TLS_FILES_SOURCE")}, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("addresses", "allow", "refused"),
    [
        ("127.0.0.1 127.0.0.1", "no", ""),
        ("localhost ::1", "no", ""),
        ("192.0.2.10 127.0.0.1", "no", " 192.0.2.10"),
        ("0.0.0.0 0.0.0.0", "no", " 0.0.0.0 0.0.0.0"),
        ("192.0.2.10 192.0.2.10", "yes", ""),
    ],
)
def test_check_env_refuses_plain_text_beyond_loopback_unless_env_allows_it(
    addresses, allow, refused
):
    env = merged(RAW_PLAINTEXT, env=REAL_ENV | PUBLISHED | {"ALLOW_PLAINTEXT_PUBLISH": allow})[
        "check-env"
    ]
    assert env["environment"]["ALLOW_PLAINTEXT_PUBLISH"] == allow
    done = run_check_env({"PLAINTEXT_ADDRESSES": addresses, "ALLOW_PLAINTEXT_PUBLISH": allow})
    if not refused:
        assert (done.returncode, done.stderr) == (0, "")
        return
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: Redis and PostgreSQL would be published in plain text on{refused}, beyond this "
        "machine: publish them over TLS (docker-compose.publish.yml), or set "
        'ALLOW_PLAINTEXT_PUBLISH=yes in .env (docs/stack.md, "Add a machine")'
    ]


def test_plain_text_is_refused_by_default_and_its_addresses_come_from_env():
    env = PLAIN["check-env"]["environment"]
    assert env["PLAINTEXT_ADDRESSES"] == "192.0.2.10 192.0.2.10"
    assert env["ALLOW_PLAINTEXT_PUBLISH"] == "no"


# -- the worker host ------------------------------------------------------------------------------


def test_the_worker_host_runs_only_workers_and_its_checks():
    assert set(RAW_WORKERS["services"]) == {"check-env", "check-main", "worker", "worker-gpu"}
    assert WORKER_HOST["worker-gpu"]["profiles"] == ["gpu"]


@pytest.mark.parametrize("name", ["worker", "worker-gpu"])
def test_worker_host_workers_are_the_main_stacks_but_write_no_reports(name):
    main = interpolate(RAW_BASE, REAL_ENV)["services"][name]
    here = WORKER_HOST[name]
    assert main["command"][-1] == "--reports" and here["command"][-1] == "--no-reports"
    assert here["command"][:-1] == main["command"][:-1], "the same command, options and defaults"
    mnistgrid_command(here["command"])  # a real subcommand, with options it knows
    for key in ("image", "build", "working_dir", "init", "stop_grace_period", "restart"):
        assert here[key] == main[key], key
    assert seconds(here["stop_grace_period"]) >= 60
    assert "container_name" not in here and "ports" not in here, "scales like the main's"
    assert here.get("deploy") == main.get("deploy")
    assert here["depends_on"] == {"check-main": {"condition": "service_completed_successfully"}}


@pytest.mark.parametrize("name", ["worker", "worker-gpu"])
def test_worker_host_workers_mount_their_own_data_and_nothing_of_the_main_hosts(name):
    volumes = WORKER_HOST[name]["volumes"]
    assert "mnist-tensors:/data/cache/tensors" in volumes and "mnist:/data/cache/mnist" in volumes
    assert "./certs/tls/ca.crt:/run/mnistgrid/tls/ca.crt:ro" in volumes
    assert not any("reports" in volume for volume in volumes)


@pytest.mark.parametrize(
    "stack",
    [interpolate(RAW_BASE, REAL_ENV)["services"], TLS, PLAIN, WORKER_HOST],
    ids=["main", "tls", "plaintext", "worker-host"],
)
def test_no_mount_lies_inside_another(stack):
    """Containers started together on a new volume that holds another mount's mount point race
    to make it (moby/moby#47021): `up --scale worker=2` failed on it."""
    for name, body in stack.items():
        targets = [PurePosixPath(volume.split(":")[1]) for volume in body.get("volumes", [])]
        for inner in targets:
            outer = [str(t) for t in targets if t != inner and inner.is_relative_to(t)]
            assert not outer, f"{name}: {inner} is mounted inside {outer}"


def test_worker_host_reaches_the_main_host_over_tls_with_its_two_logins():
    env = WORKER_HOST["worker"]["environment"]
    broker = "rediss://mnistgrid:real-REDIS_PASSWORD@real-MAIN_HOST:6380/0"
    store = (
        "postgresql+psycopg://mnistgrid:real-POSTGRES_PASSWORD@real-MAIN_HOST:5433/mnistgrid"
        "?sslmode=verify-full"
    )
    assert (env["MNISTGRID_BROKER_URL"], env["MNISTGRID_DATABASE_URL"]) == (broker, store)
    assert env["MNISTGRID_TLS_CA_FILE"] == "/run/mnistgrid/tls/ca.crt"
    assert WORKER_HOST["check-main"]["environment"] == env
    assert WORKER_HOST["check-main"]["command"] == ["mnistgrid", "check", "--wait", "120"]
    mnistgrid_command(WORKER_HOST["check-main"]["command"])


def test_worker_host_holds_only_the_two_secrets_and_none_on_a_command_line():
    required = set(VARIABLE.findall(WORKERS.read_text()))  # (name, sep, arg) tuples
    secrets = {name for name, sep, _ in required if sep == ":?" and name != "MAIN_HOST"}
    assert secrets == {"REDIS_PASSWORD", "POSTGRES_PASSWORD"}
    for name, body in RAW_WORKERS["services"].items():
        argv = strings([body.get("command", []), body.get("entrypoint", [])])
        named = {m["name"] for text in argv for m in VARIABLE.finditer(text.replace("$$", ""))}
        assert not named & secrets, name
    check_env = RAW_WORKERS["services"]["check-env"]["environment"]
    assert {key for key in check_env if "PASSWORD" in key} == secrets


def test_worker_hosts_env_example_names_its_file_and_holds_placeholders():
    assert WORKERS_ENV["COMPOSE_FILE"] == "docker-compose.workers.yml"
    for key in ("MAIN_HOST", "REDIS_PASSWORD", "POSTGRES_PASSWORD"):
        assert WORKERS_ENV[key] == "change-me"
    used = {m["name"] for m in VARIABLE.finditer(WORKERS.read_text())}
    mentioned = set(read_env_file(WORKERS_ENV_EXAMPLE)) | {
        line.lstrip("# ").split("=")[0]
        for line in WORKERS_ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("# ") and "=" in line and line[2:3].isupper()
    }
    assert mentioned - {"COMPOSE_FILE"} <= used


# -- the certificates -----------------------------------------------------------------------------


def test_tls_keys_stay_out_of_git_and_out_of_the_image():
    ignored = (REPO / ".gitignore").read_text().split()
    assert {"/certs/tls/", "/certs/tls-ca/"} <= set(ignored)
    build_context = (REPO / ".dockerignore").read_text().split()
    assert {"certs/tls", "certs/tls-ca"} <= set(build_context)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_make_certs_makes_a_chain_for_the_stack_and_the_names_given(tmp_path):
    script = str(REPO / "scripts" / "make-certs.sh")
    done = subprocess.run(
        ["sh", script, "--out", str(tmp_path), "main.example.com", "192.0.2.10"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    tls = tmp_path / "tls"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "server.crt", "server.key"]
    assert (tmp_path / "tls-ca" / "ca.key").is_file()
    assert oct((tls / "server.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tls / "ca.crt").stat().st_mode & 0o777) == "0o644"

    def verify(*names: str) -> bool:
        checks = [
            a
            for name in names
            for a in (("-verify_ip" if name[0].isdigit() else "-verify_hostname"), name)
        ]
        argv = [
            "openssl",
            "verify",
            "-CAfile",
            str(tls / "ca.crt"),
            *checks,
            str(tls / "server.crt"),
        ]
        return subprocess.run(argv, capture_output=True).returncode == 0

    for name in ("redis", "postgres", "localhost", "127.0.0.1", "main.example.com", "192.0.2.10"):
        assert verify(name), name
    assert not verify("other.example.com") and not verify("192.0.2.11")
    # again: a new server certificate from the same authority
    authority = (tls / "ca.crt").read_bytes()
    old = (tls / "server.crt").read_bytes()
    again = subprocess.run(
        ["sh", script, "--out", str(tmp_path), "main.example.com"], capture_output=True
    )
    assert again.returncode == 0
    assert (tls / "ca.crt").read_bytes() == authority and (tls / "server.crt").read_bytes() != old
    assert verify("main.example.com") and not verify("192.0.2.10")
