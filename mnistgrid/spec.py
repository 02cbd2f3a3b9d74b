"""What one training job is: frozen, validated specs that everything downstream trusts.

The ground floor's vocabulary: the grid file (orchestrator) and `mnistgrid train` (CLI) both end
here, so a job means the same thing whichever door it came through. Imports only pydantic.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Model = Literal["baseline", "linear", "mlp"]
Loss = Literal["mnist_loss", "softmax_mse", "cross_entropy"]
Activation = Literal["sigmoid", "relu"]
Distance = Literal["mae", "mse"]
Gradient = Literal["autograd", "manual"]
Device = Literal["auto", "cpu", "cuda"]
StopRule = Literal["none", "median", "asha", "sha", "hyperband"]
Metric = Literal["valid_acc", "valid_loss"]
Mode = Literal["max", "min"]
Brackets = Literal["family", "grid"]

# A job's gradient when its grid does not choose one: the faster of the two ways for its model
# (docs/benchmarks.md, "Training core"). A linear stack trains wide and in place by hand, about
# twice as fast as with autograd; an MLP is about as fast either way, so it keeps the posts'
# `loss.backward()`.
GRADIENT_BY_MODEL: dict[Model, Gradient] = {
    "baseline": "autograd",  # never read: the baseline does not train
    "linear": "manual",
    "mlp": "autograd",
}

MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 60_000
MAX_HIDDEN = 4096
# Seeds (a job's `seed`, the data's `split_seed`) are 0..2**31: torch's generator takes at most
# 2**63 - 1 here, and a job shuffles each epoch with `seed * 1_000_003 + epoch` (core/learner.py).
MAX_SEED = 2**31
MAX_SWEEP_NAME = 200

# A sweep name: ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit, and not
# all digits (a number names a sweep by its id). So a name is also a safe folder name and URL
# path segment as it is. Names stored before the rule may break it; they are still read.
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def sweep_name_problem(name: str) -> str | None:
    """Why `name` cannot name a new sweep, or None when it can."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_SWEEP_NAME:
        return f"must be at most {MAX_SWEEP_NAME} characters, got {len(name)}"
    if not SWEEP_NAME.fullmatch(name):
        return (
            "must be letters, digits, '.', '_' and '-', starting with a letter or digit, "
            f"got {name!r}"
        )
    if name.isdigit():
        return f"must not be all digits (a number is a sweep id), got {name!r}"
    return None


def is_sweep_name(name: str) -> bool:
    return sweep_name_problem(name) is None


def fit_sweep_name(text: str) -> str:
    """A sweep name made from `text` (a grid file's stem): itself when it is one; else each run
    of other characters becomes `_`, leading `.`, `_`, `-` and trailing `_` go, it is cut to
    200 characters, `sweep` stands in for nothing left and `sweep-` goes before digits."""
    if is_sweep_name(text):
        return text
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip("._-").rstrip("_")[:MAX_SWEEP_NAME]
    if not name:
        return "sweep"
    return f"sweep-{name}"[:MAX_SWEEP_NAME] if name.isdigit() else name


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSpec(Frozen):
    """Which examples a job sees: all ten digits or a pair, and where validation comes from."""

    # None: all ten digits. A pair (a, b): binary, label 1 for `a` and 0 for `b`, as the posts.
    digits: tuple[int, int] | None = None
    # "test": validate on the test split (post 1). A number: that fraction of the training split,
    # drawn with `split_seed` (the 4-vs-8 post's SubsetRandomSampler).
    valid: str | float = "test"
    split_seed: int = Field(default=42, ge=0, le=MAX_SEED)
    # Standardise pixels with the training split's mean and std (post 3: 0.1307 / 0.3081).
    normalize: bool = False

    @field_validator("digits", mode="before")
    @classmethod
    def _two_distinct_digits(cls, pair: object) -> object:
        if pair is None:
            return None
        digits = list(pair) if isinstance(pair, list | tuple) else [pair]
        valid = all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 9 for d in digits)
        if len(digits) != 2 or not valid or digits[0] == digits[1]:
            raise ValueError(f"must be a pair of two distinct digits 0-9, got {pair!r}")
        return tuple(digits)

    @field_validator("valid", mode="before")
    @classmethod
    def _test_or_fraction(cls, valid: object) -> object:
        is_number = isinstance(valid, int | float) and not isinstance(valid, bool)
        if valid != "test" and not (is_number and 0.0 < valid < 1.0):
            raise ValueError(f"must be 'test' or a fraction between 0 and 1, got {valid!r}")
        return valid

    @property
    def n_classes(self) -> int:
        return 10 if self.digits is None else 2

    @property
    def classes(self) -> tuple[int, ...]:
        """The digit each class index stands for: 0..9, or for a pair (a, b) it is (b, a),
        since the posts label the first digit of a pair 1 and the second 0."""
        return tuple(range(10)) if self.digits is None else (self.digits[1], self.digits[0])


class JobSpec(Frozen):
    """One training job. `baseline` ignores loss, lr and the rest: it has no training."""

    model: Model
    loss: Loss = "cross_entropy"
    lr: float = 1.0
    distance: Distance = "mse"
    hidden: int = Field(default=64, ge=1, le=MAX_HIDDEN)
    activation: Activation = "sigmoid"
    init_std: float = Field(default=1.0, gt=0)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    epochs: int = Field(default=40, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(default=256, ge=1, le=MAX_BATCH_SIZE)
    # None: the model's faster way (GRADIENT_BY_MODEL), filled in before anything reads it.
    gradient: Gradient | None = None
    device: Device = "auto"
    data: DataSpec = DataSpec()

    @model_validator(mode="after")
    def _gradient_of_the_model(self) -> JobSpec:
        if self.gradient is None:
            object.__setattr__(self, "gradient", GRADIENT_BY_MODEL[self.model])
        return self

    @field_validator("lr", "init_std")
    @classmethod
    def _finite_positive(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"must be a finite positive number, got {value}")
        return value

    def canonical(self) -> dict[str, object]:
        """The fields that change the result; baseline drops the ones it never reads."""
        fields = self.model_dump(mode="json")
        if self.model == "baseline":
            return {"model": "baseline", "distance": self.distance, "data": fields["data"]}
        del fields["distance"]
        if self.model == "linear":
            del fields["hidden"], fields["activation"]
        return fields

    def key(self) -> str:
        """A deterministic id of the configuration: equal specs get equal keys."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def shape_key(self) -> str:
        """Equal for jobs that can train as one stack: everything but lr, seed and init_std
        (which only draws the first parameters) agrees."""
        fields = self.canonical()
        for free in ("lr", "seed", "init_std"):
            fields.pop(free, None)
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def family(self) -> str:
        """What the report compares: `baseline mae`, `baseline mse`, `linear`, `mlp`."""
        return f"baseline {self.distance}" if self.model == "baseline" else self.model

    def shape_label(self) -> str:
        """The model as the report names it: `baseline mse`, `linear`, `mlp64-sigmoid`."""
        if self.model == "baseline":
            return f"baseline {self.distance}"
        return f"mlp{self.hidden}-{self.activation}" if self.model == "mlp" else "linear"

    def label(self) -> str:
        if self.model == "baseline":
            return self.shape_label()
        return f"{self.shape_label()} {self.loss} lr={self.lr:g} seed={self.seed}"


class StopSpec(Frozen):
    """When a sweep stops a job early (the grid file's `[stop]` table).

    `asha`: asynchronous successive halving. Rungs at `grace * reduction**k` epochs; a job that
    reaches a rung continues only if its metric there is in the top 1/reduction of the values
    the other jobs of its bracket recorded at that rung. `median`: from epoch `grace` on, a job
    stops when its best value so far is worse than the median of the other jobs' best values
    up to that epoch, once `min_jobs` others have reached it. `sha`: successive halving with
    synchronous rungs: a job reaching a rung waits there (parked) until every job of its
    bracket has reached it or ended; then exactly the top 1/reduction go on, re-stacked, and the
    rest stop. `hyperband`: several SHA brackets whose first rungs are `grace * reduction**b`.
    Brackets are the model families (linear, mlp) by default, so a family that starts slower
    keeps its best; `grid` compares across the whole grid.
    """

    rule: StopRule = "none"
    metric: Metric = "valid_acc"
    # Whether a larger or a smaller metric is better: by default max for accuracy, min for loss.
    mode: Mode | None = None
    grace: int = Field(default=1, ge=1, le=MAX_EPOCHS)
    reduction: int = Field(default=3, ge=2, le=100)
    min_jobs: int = Field(default=3, ge=1, le=10_000)
    brackets: Brackets = "family"

    @model_validator(mode="after")
    def _options_of_the_rule(self) -> StopSpec:
        own = {"reduction": ("asha", "sha", "hyperband"), "min_jobs": ("median",)}
        for option, rules in own.items():
            # A stored spec lists every option at its default: only a changed one is a mistake.
            changed = getattr(self, option) != type(self).model_fields[option].default
            if changed and self.rule not in rules:
                names = ", ".join(repr(rule) for rule in rules)
                raise ValueError(f"{option} applies to rule {names} only, not {self.rule!r}")
        if self.mode is None:
            object.__setattr__(self, "mode", "max" if self.metric == "valid_acc" else "min")
        return self

    @property
    def active(self) -> bool:
        return self.rule != "none"

    @property
    def synchronous(self) -> bool:
        """Rungs wait for their bracket (jobs are parked there)."""
        return self.rule in ("sha", "hyperband")
