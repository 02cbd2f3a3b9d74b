"""docker-compose.yml, checked without a Docker engine: every command is one that mnistgrid (or
Redis, or Flower) really has, every MNISTGRID_* variable is a setting, start order rests on
health, the GPU reservation is well formed, the image builds offline or through a mirror
without changing a default build, and no secret is committed. tests/compose runs the stack.

    python -m pytest tests/unit/test_compose.py

Variables are resolved from .env.example, as compose would from a copied .env.
"""

from __future__ import annotations

import importlib
import os
import re
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
    "redis",
    "postgres",
    "migrate",
    "worker",
    "worker-gpu",
    "flower",
    "web",
    "orchestrator",
}
MNISTGRID_SERVICES = sorted(SERVICES - {"redis", "postgres"})
ONE_SHOT = {"migrate", "orchestrator"}
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
STACK = interpolate(RAW, ENV)


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


def test_redis_requires_its_password_and_keeps_its_queues():
    argv = RAW["services"]["redis"]["command"]
    assert argv[0] == "redis-server"
    assert argv[argv.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in service("redis")["volumes"])


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
    assert fields["database_url"].startswith("postgresql+psycopg://mnistgrid:")
    assert fields["broker_url"] == f"redis://:{ENV['REDIS_PASSWORD']}@redis:6379/0"


@pytest.mark.parametrize("name", ["worker", "worker-gpu", "orchestrator"])
def test_the_report_folder_is_mounted_where_the_reports_go(name):
    reports = service(name)["environment"]["MNISTGRID_REPORTS_DIR"]
    assert f"./reports:{reports}" in service(name)["volumes"]
    cache = service(name)["environment"]["MNISTGRID_CACHE_DIR"]
    assert any(v.endswith(f":{cache}") for v in service(name)["volumes"])


# -- start order and health ---------------------------------------------------------------------


def test_redis_and_postgres_have_healthchecks_that_really_connect():
    redis_check = " ".join(service("redis")["healthcheck"]["test"])
    assert "redis-cli" in redis_check and "PONG" in redis_check
    assert "REDISCLI_AUTH" in service("redis")["environment"] or " -a " in redis_check
    assert "pg_isready" in " ".join(service("postgres")["healthcheck"]["test"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_waits_for_health_or_completion_not_start_order(name):
    for target, rule in service(name).get("depends_on", {}).items():
        condition = rule["condition"]  # a plain list would only order the starts
        if condition == "service_healthy":
            assert "healthcheck" in service(target), f"{target} has no healthcheck"
        else:
            assert condition == "service_completed_successfully" and target in ONE_SHOT


@pytest.mark.parametrize("name", ["worker", "worker-gpu", "orchestrator"])
def test_mnistgrid_services_start_after_the_migration_and_a_healthy_redis(name):
    needs = service(name)["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["redis"]["condition"] == "service_healthy"
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
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))
    assert required == {"REDIS_PASSWORD", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH", "WEB_AUTH"}
    assert required <= set(ENV)
    for key, value in ENV.items():
        if SECRET_NAME.search(key):
            assert PLACEHOLDER in value, f"{key} in .env.example must be a placeholder"
    used = {match["name"] for match in VARIABLE.finditer(COMPOSE.read_text())}
    mentioned = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert set(mentioned) <= used, "every variable .env.example mentions is used"


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
