"""Sampled axes: an axis of the grid file given as a distribution instead of a list, drawn once
at submit from the `[search]` table's seed.

    [search]
    method = "sobol"          # or "random"
    samples = 32
    seed = 0
    [grid]
    lr = { log_uniform = [0.01, 10] }
    hidden = { int_log_uniform = [16, 512] }

Every sample is one point across all the sampled axes; listed axes still cross with the
samples. Random points come from Python's `random.Random(seed)`; Sobol points from torch's
scrambled `SobolEngine` (imported only for a Sobol grid: planning a sweep needs no torch).
The same file draws the same points, so submitting it twice is the same sweep.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mnistgrid.spec import MAX_BATCH_SIZE, MAX_HIDDEN, MAX_SEED

SampledAxis = Literal["lr", "init_std", "hidden", "seed", "batch_size"]
Kind = Literal["uniform", "log_uniform", "int_uniform", "int_log_uniform"]
INT_AXES = {"hidden": (1, MAX_HIDDEN), "seed": (0, MAX_SEED), "batch_size": (1, MAX_BATCH_SIZE)}
FLOAT_AXES = ("lr", "init_std")  # finite and positive
# Drawn floats keep six significant digits: labels and tables show them whole.
DIGITS = 6


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Search(Strict):
    """The grid file's `[search]` table: how the sampled axes are drawn."""

    method: Literal["random", "sobol"]
    samples: int = Field(ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)


class Distribution(Strict):
    """One sampled axis: exactly one of its four keys, with [low, high]."""

    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_uniform: tuple[int, int] | None = None
    int_log_uniform: tuple[int, int] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _a_pair(cls, value: object) -> object:
        # TOML writes [low, high] as an array; a strict tuple field wants a tuple.
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _one_range(self) -> Distribution:
        given = [kind for kind in Kind.__args__ if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of {', '.join(Kind.__args__)}, got {given or 'none'}")
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"{self.kind}: must be [low, high] with low < high, got {[low, high]}"
            )
        if self.kind.endswith("log_uniform") and low <= 0:
            raise ValueError(f"{self.kind}: a log scale needs low > 0, got {low}")
        return self

    @property
    def kind(self) -> Kind:
        return next(kind for kind in Kind.__args__ if getattr(self, kind) is not None)

    @property
    def bounds(self) -> tuple[float, float]:
        return getattr(self, self.kind)

    def check_axis(self, axis: str) -> None:
        """Whole numbers for an integer axis, within its bounds; positive for lr, init_std."""
        low, high = self.bounds
        if axis in INT_AXES:
            least, most = INT_AXES[axis]
            if not self.kind.startswith("int_"):
                raise ValueError(f"{axis} takes int_uniform or int_log_uniform, not {self.kind}")
            if not least <= low < high <= most:
                raise ValueError(f"must lie within {least} and {most}, got {[low, high]}")
        elif self.kind.startswith("int_"):
            raise ValueError(f"{axis} takes uniform or log_uniform, not {self.kind}")
        elif low <= 0:
            raise ValueError(f"{axis} must be positive, got low = {low}")

    def value_at(self, u: float) -> float | int:
        """The value at `u` in [0, 1): its quantile."""
        low, high = self.bounds
        if self.kind == "uniform":
            return _round(low + u * (high - low))
        if self.kind == "log_uniform":
            return _round(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
        top = high + 1  # integers: each value of [low, high] gets its share of [0, 1)
        if self.kind == "int_uniform":
            value = low + u * (top - low)
        else:
            value = math.exp(math.log(low) + u * (math.log(top) - math.log(low)))
        # exp(log(16)) is 15.999999...: round off the float error before flooring.
        return max(int(low), min(int(high), math.floor(round(value, 9))))


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def unit_points(search: Search, dims: int) -> list[tuple[float, ...]]:
    """`search.samples` points in [0, 1)**dims, the same for the same seed."""
    if search.method == "random":
        rng = random.Random(search.seed)
        return [tuple(rng.random() for _ in range(dims)) for _ in range(search.samples)]
    import torch  # noqa: PLC0415 - only a Sobol grid pays for torch at submit
    from torch.quasirandom import SobolEngine  # noqa: PLC0415

    engine = SobolEngine(dims, scramble=True, seed=search.seed)
    return [tuple(row) for row in engine.draw(search.samples, dtype=torch.float64).tolist()]


def draw(search: Search, sampled: dict[str, Distribution]) -> list[dict[str, float | int]]:
    """The samples: one value per sampled axis, in the order of the axes' names."""
    axes: Sequence[str] = sorted(sampled)
    return [
        {axis: sampled[axis].value_at(u) for axis, u in zip(axes, point, strict=True)}
        for point in unit_points(search, len(axes))
    ]
