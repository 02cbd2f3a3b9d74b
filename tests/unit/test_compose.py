"""docker-compose.yml, checked without a Docker engine: every command is one that mnistgrid (or
Redis, or Flower) really has, every MNISTGRID_* variable is a setting, each service gets only
the credentials it uses and none on a command line, a placeholder left in .env stops the stack,
start order rests on health, the GPU reservation is well formed, the image builds offline or
through a mirror without changing a default build, and no secret is committed. tests/compose
runs the stack.

    python -m pytest tests/unit/test_compose.py

Variables are resolved from .env.example, as compose would from a copied .env.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from celery import Celery
from flower.options import options as flower_options

from mnistgrid.cli import cli
from mnistgrid.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
SERVICES = {
    "check-env",
    "redis",
    "postgres",
    "migrate",
    "worker",
    "worker-gpu",
    "flower",
    "web",
    "orchestrator",
}
MNISTGRID_SERVICES = sorted(SERVICES - {"check-env", "redis", "postgres"})
ONE_SHOT = {"check-env", "migrate", "orchestrator"}
PLACEHOLDER = "change-me"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH|KEY", re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}: what compose 1.29 knows.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:?[-?])(?P<arg>[^}]*))?\}")


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}


def interpolate(value: object, env: dict[str, str]) -> object:
    """Resolve compose variables in every string of `value`, as `docker-compose config` does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match[str]) -> str:
        name, sep, arg = match["name"], match["sep"] or "", match["arg"] or ""
        found = env.get(name)
        if found is None or (sep.startswith(":") and found == ""):
            if sep.endswith("?"):
                raise AssertionError(f"{name} is required: {arg}")
            return arg
        return found

    return VARIABLE.sub(resolve, value.replace("$$", "\0")).replace("\0", "$")


RAW = yaml.safe_load(COMPOSE.read_text())
ENV = read_env_file(ENV_EXAMPLE)
# What .env holds once every change-me is replaced: the values the stack starts with.
REAL_ENV = {
    key: value.replace(PLACEHOLDER, f"real-{key.lower()}") if SECRET_NAME.search(key) else value
    for key, value in ENV.items()
}
STACK = interpolate(RAW, ENV)
# The variables compose requires: every one is a secret (tested below).
REQUIRED = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))


def service(name: str) -> dict:
    return STACK["services"][name]


def strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (str(key), *strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def copied_into_image() -> set[str]:
    """The first source of every COPY in the Dockerfile."""
    pattern = r"^COPY\s+(?:--\S+\s+)*(\S+)\s"
    return set(re.findall(pattern, DOCKERFILE.read_text(), re.MULTILINE))


def mnistgrid_command(argv: list[str]) -> click.Command:
    """The subcommand `argv` names, its arguments parsed (and refused) as the CLI would."""
    assert argv[0] == "mnistgrid", argv
    command: click.Command = cli
    args = argv[1:]
    while isinstance(command, click.Group):
        # get_command, not .commands: the top group imports its subcommands lazily.
        found = command.get_command(click.Context(command), args[0]) if args else None
        assert found is not None, f"{argv}: no such mnistgrid command"
        command, args = found, args[1:]
    command.make_context(command.name, list(args))
    return command


# -- the services and their commands ----------------------------------------------------------


def test_the_stack_has_every_service():
    assert set(RAW["services"]) == SERVICES


@pytest.mark.parametrize("name", [n for n in MNISTGRID_SERVICES if n != "flower"])
def test_each_mnistgrid_command_is_a_real_subcommand_with_valid_options(name):
    command = mnistgrid_command(service(name)["command"])
    expected = {"migrate": "upgrade", "orchestrator": "submit", "web": "serve"}.get(name, "worker")
    assert command.name.endswith(expected)


def test_migrate_upgrades_the_database_and_the_orchestrator_waits_for_its_sweep():
    assert service("migrate")["command"] == ["mnistgrid", "db", "upgrade"]
    submit = service("orchestrator")["command"]
    assert submit[:2] == ["mnistgrid", "submit"] and "--wait" in submit
    # The image holds the repository's examples/ under the working directory.
    grid = Path(service("orchestrator")["working_dir"], submit[2])
    assert (REPO / grid.relative_to("/app")).is_file()
    assert grid.relative_to("/app").parts[0] in copied_into_image()
    assert "examples" not in (REPO / ".dockerignore").read_text().split()


def test_the_image_holds_every_package_and_runs_as_a_user():
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in found["packages"]["find"]["include"]}
    assert packages <= copied_into_image(), "a package the image lacks"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not {"pyproject.toml", "README.md", *packages} & set(ignored)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_workers_take_their_queue():
    cpu = service("worker")["command"]
    assert cpu[cpu.index("--queues") + 1] == "cpu"
    gpu = service("worker-gpu")["command"]
    assert gpu[gpu.index("--queues") + 1] == "gpu" and "--gpus" in gpu


def test_flower_runs_our_celery_app_with_known_options():
    argv = service("flower")["command"]
    assert argv[:4] == ["celery", "--app", "workers.celery_app", "flower"]
    assert isinstance(importlib.import_module("workers.celery_app").app, Celery)
    # Tornado, which parses Flower's options, spells `_` and `-` alike.
    pairs = (option.removeprefix("--").split("=", 1) for option in argv[4:])
    given = {name.replace("_", "-"): value for name, value in pairs}
    assert set(given) <= set(flower_options._options), "unknown Flower options"
    assert given["persistent"] == "True"
    assert any(given["db"].startswith(v.split(":")[1] + "/") for v in service("flower")["volumes"])
    assert "basic-auth" not in given, "the login belongs in the environment, not in `ps`"


def test_flower_requires_a_login_for_its_pages_and_api():
    env = RAW["services"]["flower"]["environment"]
    assert env["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert "FLOWER_UNAUTHENTICATED_API" not in env
    # Flower reads every FLOWER_* variable as an option and stops at an unknown one.
    names = [key.removeprefix("FLOWER_") for key in env if key.startswith("FLOWER_")]
    flower_vars = {name.lower().replace("_", "-") for name in names}
    assert flower_vars <= set(flower_options._options)
    (port,) = service("flower")["ports"]
    assert port.startswith("127.0.0.1:") and port.endswith(":5555"), "publish on localhost only"


def redis_start() -> list[str]:
    """The lines of the shell script that starts Redis, as the container's shell gets it."""
    shell, option, script = service("redis")["entrypoint"]
    assert (shell, option) == ("sh", "-c") and "command" not in service("redis")
    return [line.strip() for line in script.splitlines()]


def test_redis_writes_its_acl_from_the_environment_and_keeps_its_queues():
    lines = redis_start()
    assert RAW["services"]["redis"]["environment"]["REDISCLI_AUTH"].startswith(
        "${REDIS_PASSWORD:?"
    )
    # Only the password's hash goes into the file, and the password leaves the environment of
    # the process that becomes redis-server.
    assert "hash=$(printf %s \"$REDISCLI_AUTH\" | sha256sum | cut -d ' ' -f 1)" in lines
    assert "unset REDISCLI_AUTH" in lines
    (start,) = [line for line in lines if line.startswith("exec ")]
    assert start.split() == ["exec", "docker-entrypoint.sh", "redis-server", '"$@"']
    (arguments,) = [line for line in lines if line.startswith('set -- "$conf"')]
    argv = arguments.split()
    assert argv[2] == '"$conf"', "the ACL file, not a password, on the command line"
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in service("redis")["volumes"])


def test_redis_turns_the_default_user_off_and_refuses_mnistgrid_the_dangerous_commands():
    (acl,) = [line for line in redis_start() if line.startswith("printf ")]
    words = shlex.split(acl)  # printf '%s\n' RULE... > "$conf": one line per rule
    assert words[1] == "%s\\n" and words[-2:] == [">", "$conf"]
    users = {rule.split()[1]: rule.split()[2:] for rule in words[2:-2]}
    # `reset` first: off, no password, no commands, keys or channels, whatever came before.
    assert users["default"] == ["reset"]
    assert users["mnistgrid"] == ["reset", "on", "#$hash", "~*", "&*", "+@all", "-@dangerous"]
    # The services' broker URL logs in as that user (Redis 6 ACL: user and password).
    assert service("worker")["environment"]["MNISTGRID_BROKER_URL"].startswith(
        "redis://mnistgrid:"
    )


def test_postgres_runs_the_image_default_on_a_volume():
    postgres = service("postgres")
    assert postgres["image"].startswith("postgres:") and "command" not in postgres
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MNISTGRID_SERVICES)
def test_every_mnistgrid_variable_is_a_valid_setting(name):
    env = service(name)["environment"]
    names = [key for key in env if key.startswith("MNISTGRID_")]
    fields = {key.removeprefix("MNISTGRID_").lower(): env[key] for key in names}
    assert set(fields) <= set(Settings.model_fields), "not a field of mnistgrid.settings.Settings"
    Settings(**fields)  # and each value validates


OWNER_URL = f"postgresql+psycopg://mnistgrid:{ENV['POSTGRES_PASSWORD']}@postgres:5432/mnistgrid"
READONLY_URL = (
    f"postgresql+psycopg://mnistgrid_readonly:{ENV['POSTGRES_READONLY_PASSWORD']}"
    "@postgres:5432/mnistgrid"
)
BROKER_URL = f"redis://mnistgrid:{ENV['REDIS_PASSWORD']}@redis:6379/0"
# What each service may reach, and with which role: nothing more.
CREDENTIALS = {
    "migrate": {"database_url": OWNER_URL, "readonly_database_url": READONLY_URL},
    "worker": {"database_url": OWNER_URL, "broker_url": BROKER_URL},
    "worker-gpu": {"database_url": OWNER_URL, "broker_url": BROKER_URL},
    "orchestrator": {"database_url": OWNER_URL, "broker_url": BROKER_URL},
    "flower": {"broker_url": BROKER_URL},  # Flower reads the broker, never the store
    "web": {"database_url": READONLY_URL},  # the web view reads the store, never the broker
}


@pytest.mark.parametrize("name", MNISTGRID_SERVICES)
def test_each_service_reaches_the_store_and_the_broker_only_as_it_must(name):
    env = service(name)["environment"]
    urls = {"database_url", "readonly_database_url", "broker_url"}
    given = {
        key: env[f"MNISTGRID_{key.upper()}"] for key in urls if f"MNISTGRID_{key.upper()}" in env
    }
    assert given == CREDENTIALS[name]


OWNER_AND_BROKER = {"POSTGRES_PASSWORD", "REDIS_PASSWORD"}
# The .env secrets each service's environment holds.
SECRETS_OF = {
    "check-env": REQUIRED,  # it checks them all
    "redis": {"REDIS_PASSWORD"},
    "postgres": {"POSTGRES_PASSWORD"},
    "migrate": {"POSTGRES_PASSWORD", "POSTGRES_READONLY_PASSWORD"},
    "worker": OWNER_AND_BROKER,
    "worker-gpu": OWNER_AND_BROKER,
    "orchestrator": OWNER_AND_BROKER,
    "flower": {"REDIS_PASSWORD", "FLOWER_BASIC_AUTH"},
    "web": {"POSTGRES_READONLY_PASSWORD", "WEB_AUTH"},
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_holds_only_the_secrets_it_uses(name):
    environment = strings(RAW["services"][name].get("environment", {}))
    held = {match["name"] for text in environment for match in VARIABLE.finditer(text)}
    assert held & REQUIRED == SECRETS_OF[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_secret_stands_on_a_command_line(name):
    """`ps`, `docker top` and `docker inspect` show argv: a secret reaches a process through its
    environment only, and a script reads it as $$NAME, which compose leaves to the shell."""
    body = RAW["services"][name]
    argv = strings([body.get("command", []), body.get("entrypoint", []), body.get("healthcheck")])
    named = {match["name"] for text in argv for match in VARIABLE.finditer(text.replace("$$", ""))}
    assert not named & REQUIRED


@pytest.mark.parametrize("name", ["worker", "worker-gpu", "orchestrator"])
def test_the_report_folder_is_mounted_where_the_reports_go(name):
    reports = service(name)["environment"]["MNISTGRID_REPORTS_DIR"]
    assert f"./reports:{reports}" in service(name)["volumes"]
    # The cache's two folders (mnist_source.py) outlive the container: downloads, decoded tensors.
    cache = service(name)["environment"]["MNISTGRID_CACHE_DIR"]
    for folder in ("mnist", "tensors"):
        assert any(v.endswith(f":{cache}/{folder}") for v in service(name)["volumes"]), folder


# -- start order and health ---------------------------------------------------------------------


def test_redis_and_postgres_have_healthchecks_that_really_connect():
    redis_check = " ".join(service("redis")["healthcheck"]["test"])
    # As the services' user, its password from REDISCLI_AUTH: `-a PASSWORD` would be argv.
    assert "redis-cli --user mnistgrid ping" in redis_check and "PONG" in redis_check
    assert "REDISCLI_AUTH" in service("redis")["environment"]
    assert "pg_isready" in " ".join(service("postgres")["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_waits_for_health_or_completion_not_start_order(name):
    for target, rule in service(name).get("depends_on", {}).items():
        condition = rule["condition"]  # a plain list would only order the starts
        if condition == "service_healthy":
            assert "healthcheck" in service(target), f"{target} has no healthcheck"
        else:
            assert condition == "service_completed_successfully" and target in ONE_SHOT


def needs(name: str) -> set[str]:
    """Every service `name` waits for, directly or through the ones it waits for."""
    direct = set(service(name).get("depends_on", {}))
    return direct.union(*(needs(target) for target in direct))


@pytest.mark.parametrize("name", sorted(SERVICES - {"check-env"}))
def test_nothing_starts_before_the_check_of_env_succeeded(name):
    assert "check-env" in needs(name)
    assert not service("check-env").get("depends_on"), "it runs first"


@pytest.mark.parametrize("name", ["redis", "postgres"])
def test_the_servers_wait_for_the_check_of_env(name):
    rule = service(name)["depends_on"]["check-env"]
    assert rule["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", ["worker", "worker-gpu", "orchestrator"])
def test_mnistgrid_services_start_after_the_migration_and_a_healthy_redis(name):
    needs = service(name)["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["redis"]["condition"] == "service_healthy"
    # Compose stops in reverse order of depends_on: PostgreSQL must outlive the workers' warm
    # shutdown, which writes the jobs it hands back.
    assert needs["postgres"]["condition"] == "service_healthy"
    assert service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_cpu_workers_scale_and_shut_down_warm():
    worker = service("worker")
    assert "container_name" not in worker and "ports" not in worker
    assert seconds(worker["stop_grace_period"]) >= 60


def test_gpu_workers_reserve_nvidia_gpus_in_the_gpu_profile():
    gpu = service("worker-gpu")
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    for device in devices:
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert "count" in device or "device_ids" in device
    others = [n for n in SERVICES - {"worker-gpu"} if "deploy" in service(n)]
    assert not others, "only the gpu profile reserves GPUs"


# -- secrets ------------------------------------------------------------------------------------


def test_no_secret_literal_in_the_compose_file():
    for name, body in RAW["services"].items():
        for key, value in body.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}: {key} literal"
    for text in strings(RAW):
        for user_password in re.findall(r"://[^/@\s]*:([^/@\s]*)@", text):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", user_password), text


def test_env_example_holds_placeholders_for_every_required_variable():
    assert {
        "REDIS_PASSWORD",
        "POSTGRES_PASSWORD",
        "POSTGRES_READONLY_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "WEB_AUTH",
    } == REQUIRED
    assert all(SECRET_NAME.search(name) for name in REQUIRED)
    assert set(ENV) >= REQUIRED
    for key, value in ENV.items():
        if SECRET_NAME.search(key):
            assert PLACEHOLDER in value, f"{key} in .env.example must be a placeholder"
    # ... by docker-compose.yml, the publishing files it names, or compose itself
    files = [COMPOSE, *REPO.glob("docker-compose.publish*.yml")]
    used = {match["name"] for path in files for match in VARIABLE.finditer(path.read_text())}
    mentioned = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert set(mentioned) <= used | {"COMPOSE_FILE"}, (
        "every variable .env.example mentions is used"
    )


# -- a placeholder left in .env stops the stack ------------------------------------------------


def check_env(env: dict[str, str]) -> subprocess.CompletedProcess:
    """The check-env service's script, run by this machine's sh with the environment compose
    would give it from `env` (the values of a .env file)."""
    shell, option, script = service("check-env")["entrypoint"]
    environment = interpolate(RAW["services"]["check-env"]["environment"], env)
    return subprocess.run(
        [shell, option, script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        capture_output=True,
        text=True,
        timeout=30,
    )


def placeholder_error(*names: str) -> str:
    return (
        f"error: .env still holds the placeholder change-me in {' '.join(sorted(names))}: "
        'replace each with a secret of its own (docs/stack.md, "Credentials")'
    )


def test_check_env_lets_the_stack_start_once_every_placeholder_is_replaced():
    done = check_env(REAL_ENV)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_check_env_stops_the_stack_naming_a_placeholder_left(name):
    done = check_env({**REAL_ENV, name: ENV[name]})  # as .env.example has it
    assert done.returncode == 1
    assert done.stderr.splitlines() == [placeholder_error(name)]


def test_check_env_names_every_placeholder_left_in_one_line():
    done = check_env(ENV)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [placeholder_error(*REQUIRED)]


# -- building offline, through a mirror or behind a proxy --------------------------------------

PIP_SETTINGS = {
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_TRUSTED_HOST",
}
# Docker's predefined build arguments: no ARG needed, and kept out of `docker history`.
PROXIES = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
BUILT = ["worker", "worker-gpu"]  # the CPU and the GPU image


def dockerfile_args() -> dict[str, str | None]:
    """Every ARG of the Dockerfile and its default (None: declared without one)."""
    found = re.findall(r"^ARG\s+(\w+)(=\S*)?\s*$", DOCKERFILE.read_text(), re.MULTILINE)
    return {name: default[1:] if default else None for name, default in found}


def test_the_dockerfile_takes_pips_settings_unset_by_default():
    args = dockerfile_args()
    assert set(args) >= PIP_SETTINGS
    assert all(args[name] is None for name in PIP_SETTINGS), "a default build must not set them"


@pytest.mark.parametrize("name", BUILT)
def test_compose_passes_pips_settings_and_proxies_to_the_build_empty_by_default(name):
    raw = RAW["services"][name]["build"]["args"]
    for arg in PIP_SETTINGS | PROXIES:
        assert raw[arg] == f"${{{arg}:-}}", "from .env, empty unless set (pip ignores empty)"
        assert service(name)["build"]["args"][arg] == ""
    assert set(raw) - PROXIES <= set(dockerfile_args()), "an argument the Dockerfile ignores"


@pytest.mark.parametrize("arg", ["PYTHON_IMAGE", "APP_UID", "APP_GID"])
@pytest.mark.parametrize("name", BUILT)
def test_compose_defaults_of_build_arguments_are_the_dockerfiles(name, arg):
    assert service(name)["build"]["args"][arg] == dockerfile_args()[arg]


def test_the_cpu_image_gets_the_dockerfiles_torch_by_default():
    args = service("worker")["build"]["args"]
    assert args["TORCH_INDEX"] == dockerfile_args()["TORCH_INDEX"]
    gpu = RAW["services"]["worker-gpu"]["build"]["args"]["TORCH_INDEX"]
    assert gpu.startswith("${GPU_TORCH_INDEX:-")


def test_the_base_image_is_a_build_argument_declared_before_from():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=\S+\n(?:#.*\n)*FROM \$\{PYTHON_IMAGE\}$", text, re.M)


def test_the_dockerfile_needs_no_buildkit():
    # The legacy builder (all some Docker daemons have) rejects these or ignores them.
    text = DOCKERFILE.read_text()
    assert not re.search(r"^RUN\s+--(mount|network|security)", text, re.MULTILINE)
    assert not re.search(r"^(COPY|ADD)\s+.*--(link|parents|chmod|exclude)", text, re.M)
    assert not re.search(r"<<-?\s*['\"]?[A-Z]+['\"]?\s*$", text, re.MULTILINE), "no heredocs"


def test_extra_ca_certificates_come_from_certs_and_stay_out_of_git():
    assert "certs/" in copied_into_image() and (REPO / "certs").is_dir()
    assert "certs" not in (REPO / ".dockerignore").read_text().split()
    assert "/certs/*.crt" in (REPO / ".gitignore").read_text().split()


@pytest.mark.parametrize(
    ("name", "variable", "default"),
    [("redis", "REDIS_IMAGE", "redis:7.4"), ("postgres", "POSTGRES_IMAGE", "postgres:16")],
)
def test_service_images_are_variables_with_todays_defaults(name, variable, default):
    assert RAW["services"][name]["image"] == f"${{{variable}:-{default}}}"


# -- the real validator -------------------------------------------------------------------------


def docker_compose(tmp_path: Path, *args: str, env_file: Path = ENV_EXAMPLE):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install -y docker-compose)")
    # Only the env file: a variable exported in this shell must not hide a missing one.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("profile", [[], ["--profile", "gpu"]], ids=["default", "gpu"])
def test_docker_compose_config_accepts_the_file(tmp_path, profile):
    done = docker_compose(tmp_path, *profile, "config", "-q")
    assert done.returncode == 0, done.stderr


def test_docker_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = docker_compose(tmp_path, "config", "-q", env_file=empty)
    assert done.returncode != 0 and "in .env" in done.stderr
