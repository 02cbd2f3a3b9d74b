"""What `mnistgrid train` (train_cmd.py) does once it runs: build the job from the options,
train it in this process and print its epochs. Imported then, not with the command: torch and
rich are most of its start, and its `--help` needs neither.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console

from mnistgrid.core.learner import resolve_device, use_threads
from mnistgrid.core.results import EpochMetrics, FitResult, MemberEpoch
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.errors import BadInput, describe_validation_error
from mnistgrid.settings import load_settings
from mnistgrid.spec import JobSpec


def parse_digits(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise BadInput(f"--digits: expected two digits like 3,7, got {text!r}") from None


def parse_valid(text: str) -> str | float:
    if text == "test":
        return text
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"--valid: expected 'test' or a fraction like 0.2, got {text!r}") from None


def build_spec(options: dict[str, object]) -> JobSpec:
    data = {
        "digits": parse_digits(options.pop("digits")),
        "valid": parse_valid(options.pop("valid")),
        "normalize": options.pop("normalize"),
    }
    try:
        return JobSpec(**options, data=data)
    except ValidationError as error:
        raise BadInput(describe_validation_error(error, key_name=option_name)) from None


def option_name(key: str) -> str:
    """`data.digits` -> `--digits`: the data fields are top-level options here."""
    return "--" + key.removeprefix("data.").replace("_", "-")


def train(data_dir: Path | None, as_json: bool, options: dict[str, object]) -> None:
    spec = build_spec(options)
    settings = load_settings().with_overrides(data_dir=data_dir)
    use_threads(settings.torch_threads)
    data = load_task(settings.data_dir, settings.cache_dir, spec.data)
    printer = EpochPrinter(Console(soft_wrap=True), data.classes) if not as_json else None
    (result,) = train_jobs([spec], data, printer)
    if as_json:
        click.echo(json.dumps(result_document(spec, result, data.classes), allow_nan=False))
    else:
        EpochPrinter.summary(Console(soft_wrap=True), spec, result, data.classes)


class EpochPrinter:
    """The per-epoch table, printed row by row as epochs finish."""

    def __init__(self, console: Console, classes: tuple[int, ...]) -> None:
        self.console, self.classes = console, classes
        self.console.print(
            f"{'epoch':>5}  {'train_loss':>10}  {'valid_loss':>10}  "
            f"{'accuracy':>8}  {'seconds':>7}",
            style="bold",
        )

    def __call__(self, events: list[MemberEpoch]) -> None:
        m = events[0].metrics
        self.console.print(
            f"{m.epoch:>5}  {fmt(m.train_loss):>10}  {fmt(m.valid_loss):>10}  "
            f"{m.valid_acc:>8.4f}  {m.seconds:>7.3f}"
        )

    @staticmethod
    def summary(console: Console, spec: JobSpec, result: FitResult, classes: tuple[int, ...]):
        final = result.final
        assert final is not None
        digits = "  ".join(f"{d}:{a:.3f}" for d, a in per_digit(final, classes).items())
        console.print(
            f"{spec.label()}: {result.outcome}, accuracy {final.valid_acc:.4f}, "
            f"mean per-class {final.mean_class_acc:.4f}"
        )
        console.print(f"per digit  {digits}")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def finite(value: float | None) -> float | None:
    """JSON has no NaN: a diverged loss is printed as null."""
    return value if value is not None and math.isfinite(value) else None


def per_digit(metrics: EpochMetrics, classes: tuple[int, ...]) -> dict[str, float]:
    return {str(d): a for d, a in sorted(zip(classes, metrics.per_class_acc, strict=True))}


def result_document(spec: JobSpec, result: FitResult, classes: tuple[int, ...]) -> dict:
    final = result.final
    assert final is not None
    return {
        "spec": spec.model_dump(mode="json"),
        "outcome": result.outcome,
        "device": str(resolve_device(spec.device)),
        "epochs": [
            {
                "epoch": m.epoch,
                "train_loss": finite(m.train_loss),
                "valid_loss": finite(m.valid_loss),
                "valid_acc": m.valid_acc,
                "per_class_acc": per_digit(m, classes),
                "seconds": m.seconds,
            }
            for m in result.epochs
        ],
        "final_acc": final.valid_acc,
        "per_class_acc": per_digit(final, classes),
        "mean_class_acc": final.mean_class_acc,
    }
