"""Grid files: a TOML file of axes that multiply into a sweep's jobs.

    mnistgrid submit examples/seeds.toml --name seeds --wait

Everything is checked here, before anything is written or queued: a bad grid is one
`BadInput` line naming the key and what it allows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import stat
import tomllib
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mnistgrid.errors import BadInput, describe_validation_error
from mnistgrid.spec import (
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_HIDDEN,
    MAX_SEED,
    Activation,
    DataSpec,
    Device,
    Distance,
    Gradient,
    JobSpec,
    Loss,
    Model,
    StopSpec,
    fit_sweep_name,
    sweep_name_problem,
)
from orchestrator.search import Distribution, SampledAxis, Search, draw


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def as_list(value: object) -> object:
    """An axis may be written as one value: `lr = 1.0` means `lr = [1.0]`."""
    return value if isinstance(value, list | tuple) else [value]


class Axes(Strict):
    """Values that multiply. Each axis applies only to the models that read it."""

    model: list[Model] = Field(min_length=1)
    loss: list[Loss] = Field(default=["cross_entropy"], min_length=1)
    lr: list[float] = Field(default=[1.0], min_length=1)
    distance: list[Distance] = Field(default=["mae", "mse"], min_length=1)
    hidden: list[int] = Field(default=[64], min_length=1)
    activation: list[Activation] = Field(default=["sigmoid"], min_length=1)
    seed: list[int] = Field(default=[0], min_length=1)
    batch_size: list[int] = Field(default=[256], min_length=1)
    # Unset: every job starts from [train].init_std.
    init_std: list[float] | None = Field(default=None, min_length=1)

    @field_validator("*", mode="before")
    @classmethod
    def _one_value_is_an_axis(cls, value: object) -> object:
        return as_list(value)

    @field_validator("lr", "init_std")
    @classmethod
    def _finite_positive(
        cls, values: list[float] | None, info: ValidationInfo
    ) -> list[float] | None:
        for value in values or ():
            if not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"every {info.field_name} must be a finite positive number, got {value}"
                )
        return values

    @field_validator("hidden", "seed", "batch_size")
    @classmethod
    def _in_range(cls, values: list[int], info: ValidationInfo) -> list[int]:
        bounds = {
            "hidden": (1, MAX_HIDDEN),
            "seed": (0, MAX_SEED),
            "batch_size": (1, MAX_BATCH_SIZE),
        }
        low, high = bounds[info.field_name]
        for value in values:
            if not low <= value <= high:
                raise ValueError(f"must be between {low} and {high}, got {value}")
        return values


class Training(Strict):
    epochs: int = Field(default=40, ge=1, le=MAX_EPOCHS)
    device: Device = "auto"
    gradient: Gradient | None = None  # None: each job's model chooses (spec.GRADIENT_BY_MODEL)
    init_std: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    # Per job, in seconds: the soft limit stops it as failed; the hard one kills the process.
    time_limit: float = Field(default=3600.0, gt=0, le=86_400, allow_inf_nan=False)


class GridFile(Strict):
    name: str | None = None
    fuse: bool = True
    data: DataSpec = DataSpec()
    train: Training = Training()
    stop: StopSpec = StopSpec()
    search: Search | None = None
    grid: Axes
    # The axes of [grid] given as a distribution (orchestrator/search.py), moved here from it.
    sampled: dict[SampledAxis, Distribution] = {}

    @model_validator(mode="before")
    @classmethod
    def _distributions_apart(cls, document: object) -> object:
        """`lr = { log_uniform = [...] }` in [grid] is a sampled axis, not a list."""
        if not isinstance(document, dict) or not isinstance(document.get("grid"), dict):
            return document
        if "sampled" in document:
            raise ValueError("sampled: unknown key (give a distribution in [grid])")
        axes = document["grid"]
        sampled = {key: value for key, value in axes.items() if isinstance(value, dict)}
        kept = {key: value for key, value in axes.items() if key not in sampled}
        return {**document, "grid": kept, "sampled": sampled} if sampled else document

    @field_validator("name")
    @classmethod
    def _a_sweep_name(cls, name: str | None) -> str | None:
        if name is not None and (problem := sweep_name_problem(name)) is not None:
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _sampling_is_complete(self) -> GridFile:
        for axis, distribution in self.sampled.items():
            try:
                distribution.check_axis(axis)
            except ValueError as error:
                raise ValueError(f"grid.{axis}: {error}") from None
        if self.sampled and self.search is None:
            raise ValueError(f"grid.{min(self.sampled)}: a sampled axis needs a [search] table")
        if self.search is not None and not self.sampled:
            raise ValueError("search: no axis of [grid] is a distribution to sample")
        given_twice = "init_std" in self.train.model_fields_set
        if given_twice and (self.grid.init_std is not None or "init_std" in self.sampled):
            raise ValueError("init_std: give it in [train] or in [grid], not both")
        return self

    @model_validator(mode="after")
    def _grace_inside_the_epochs(self) -> GridFile:
        if self.stop.active and self.stop.grace >= self.train.epochs:
            raise ValueError(
                f"stop.grace: {self.stop.grace} epochs leaves nothing to stop in "
                f"train.epochs = {self.train.epochs}"
            )
        return self


class Grid(Strict):
    """A validated grid and where it came from."""

    name: str
    spec: GridFile

    def hash(self) -> str:
        document = self.spec.model_dump(mode="json")
        # A grid keeps the hash it had before stopping, sampling and init_std axes existed.
        if not self.spec.stop.active:
            del document["stop"]
        for key in ("search", "sampled"):
            if not document[key]:
                del document[key]
        if document["grid"]["init_std"] is None:
            del document["grid"]["init_std"]
        # Left to the models, the gradient was "autograd" before the models chose it: a grid
        # that names its gradient keeps its hash, one that leaves it out now trains its linear
        # jobs by hand, which is another sweep.
        if document["train"]["gradient"] is None:
            del document["train"]["gradient"]
        text = json.dumps(document, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


# Far more than any grid needs (the posts' comparison is 1 KB).
MAX_GRID_BYTES = 1 << 20

# The axes each model reads; the others do not multiply its jobs.
AXES_OF: dict[str, tuple[str, ...]] = {
    "baseline": ("distance",),
    "linear": ("loss", "lr", "init_std", "seed", "batch_size"),
    "mlp": ("loss", "lr", "init_std", "hidden", "activation", "seed", "batch_size"),
}


def read_text(path: Path) -> str:
    """The grid file's text. Only a regular file of at most MAX_GRID_BYTES is read: /dev/zero,
    a FIFO or a huge file would otherwise be read forever, or into all the memory there is."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such grid file") from None
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{path}: is a directory, not a grid file")
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{path}: not a regular file (a device, FIFO or socket), not a grid file")
    if info.st_size > MAX_GRID_BYTES:
        raise BadInput(f"{path}: {info.st_size:,} bytes; a grid file is at most 1 MiB")
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_GRID_BYTES + 1)  # it may have grown since the stat
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror}") from None
    if len(raw) > MAX_GRID_BYTES:
        raise BadInput(f"{path}: over 1 MiB; a grid file is at most 1 MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInput(f"{path}: not UTF-8 text (byte {error.start})") from None


def parse_grid(text: str, default_name: str, where: str = "") -> Grid:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"{where}not valid TOML: {error}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: `x = [[[[...` a few
        # hundred deep exhausts the stack. No grid value is nested more than two deep.
        raise BadInput(f"{where}not a grid file: values nested too deeply") from None
    try:
        # Strict: a grid file's values have their own TOML types. `lr = [true]`, `lr = ["1"]`
        # or `epochs = 2.0` are mistakes, not 1.0 and 2; an integer is a number where a float
        # is expected (`lr = [1]`). Specs read back from the database stay lax (tuples come
        # back as lists).
        spec = GridFile.model_validate(document, strict=True)
    except ValidationError as error:
        raise BadInput(describe_validation_error(error, where, grid_key)) from None
    return Grid(name=spec.name or fit_sweep_name(default_name), spec=spec)


def grid_key(key: str) -> str:
    """A key as the file spells it: a sampled axis is written in [grid]."""
    return "grid." + key.removeprefix("sampled.") if key.startswith("sampled.") else key


def load_grid(path: Path) -> Grid:
    """The grid in the file at `path`; without a `name`, the sweep is named after the file's
    stem, made to fit the name rule (`my grid.toml` -> `my_grid`, see `fit_sweep_name`)."""
    return parse_grid(read_text(path), default_name=path.stem, where=f"{path}: ")


def count_jobs(grid: Grid) -> int:
    """How many jobs `expand` would make, without making them (a sampled axis counts as many
    values as there are samples)."""
    samples = grid.spec.search.samples if grid.spec.search else 1
    return sum(
        math.prod(len(axis_values(grid, axis)) for axis in listed_axes(grid, model))
        * (samples if sampled_axes(grid, model) else 1)
        for model in dict.fromkeys(grid.spec.grid.model)
    )


def expand(grid: Grid, limit: int) -> list[JobSpec]:
    """Every job of the grid, in a stable order, without duplicates."""
    total = count_jobs(grid)
    if total > limit:
        raise BadInput(
            f"grid has {total:,} jobs, over the limit of {limit:,} (MNISTGRID_MAX_GRID_JOBS)"
        )
    points = draw(grid.spec.search, dict(grid.spec.sampled)) if grid.spec.search else [{}]
    jobs: dict[str, JobSpec] = {}
    for model in dict.fromkeys(grid.spec.grid.model):
        for job in model_jobs(grid, model, points):
            jobs.setdefault(job.key(), job)
    return list(jobs.values())


def listed_axes(grid: Grid, model: str) -> list[str]:
    return [axis for axis in AXES_OF[model] if axis not in grid.spec.sampled]


def sampled_axes(grid: Grid, model: str) -> list[str]:
    return [axis for axis in AXES_OF[model] if axis in grid.spec.sampled]


def axis_values(grid: Grid, axis: str) -> list[object]:
    values = getattr(grid.spec.grid, axis)
    return [grid.spec.train.init_std] if values is None else values  # init_std from [train]


def model_jobs(grid: Grid, model: str, points: list[dict[str, float | int]]) -> list[JobSpec]:
    """The model's jobs: its listed axes crossed, each combination with every sample."""
    train = grid.spec.train
    listed, drawn = listed_axes(grid, model), sampled_axes(grid, model)
    shared = {"epochs": train.epochs, "device": train.device, "data": grid.spec.data}
    if model != "baseline" and train.gradient is not None:
        shared["gradient"] = train.gradient
    samples = [{axis: point[axis] for axis in drawn} for point in points] if drawn else [{}]
    specs = []
    for values in itertools.product(*(axis_values(grid, axis) for axis in listed)):
        for sample in samples:
            given = {**shared, **dict(zip(listed, values, strict=True)), **sample}
            try:
                specs.append(JobSpec(model=model, **given))
            except ValidationError as error:
                raise BadInput(describe_validation_error(error, f"grid ({model}): ")) from None
    return specs
