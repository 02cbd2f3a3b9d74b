"""The source posts' figures, reproduced on the real MNIST test split."""

from __future__ import annotations

import json
import subprocess

import pytest

from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec, JobSpec


@pytest.fixture(scope="module")
def ten_digits(mnist_dir):
    return load_task(mnist_dir, load_settings().cache_dir, DataSpec())


@pytest.mark.parametrize(("distance", "expected"), [("mae", 0.661), ("mse", 0.817)])
def test_baseline_mean_per_class_accuracy(ten_digits, distance, expected):
    (result,) = train_jobs([JobSpec(model="baseline", distance=distance)], ten_digits)
    assert result.final.mean_class_acc == pytest.approx(expected, abs=0.002)


def test_linear_cross_entropy_reaches_the_posts_accuracy(ten_digits):
    spec = JobSpec(model="linear", loss="cross_entropy", lr=1.0, batch_size=256, epochs=40)
    (result,) = train_jobs([spec], ten_digits)
    assert result.outcome == "succeeded"
    assert result.epochs[0].valid_acc >= 0.83  # post: 0.8431 after one epoch
    assert result.final.valid_acc >= 0.905  # post: 0.915 after 40


def test_mlp_64_sigmoid_reaches_the_posts_accuracy(ten_digits):
    spec = JobSpec(model="mlp", hidden=64, activation="sigmoid", loss="cross_entropy", epochs=40)
    (result,) = train_jobs([spec], ten_digits)
    assert result.final.valid_acc >= 0.935  # post: about 0.95


def test_three_vs_seven_linear_mnist_loss(mnist_dir):
    data = load_task(mnist_dir, load_settings().cache_dir, DataSpec(digits=(3, 7)))
    (result,) = train_jobs([JobSpec(model="linear", loss="mnist_loss", epochs=20)], data)
    assert data.classes == (7, 3)
    assert result.final.valid_acc >= 0.95


def test_train_cli_json_reports_every_epoch(mnist_dir):
    out = subprocess.run(
        [
            "mnistgrid",
            "train",
            "--model",
            "linear",
            "--epochs",
            "2",
            "--digits",
            "4,8",
            "--valid",
            "0.2",
            "--data",
            str(mnist_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document = json.loads(out)
    assert [e["epoch"] for e in document["epochs"]] == [1, 2]
    assert set(document["per_class_acc"]) == {"4", "8"}
    assert document["final_acc"] == document["epochs"][-1]["valid_acc"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "nan"], "--lr: must be a finite positive number"),
        (["--digits", "3"], "--digits: must be a pair"),
        (["--model", "mlp", "--hidden", "0"], "--hidden: Input should be greater than"),
        (["--epochs", "0"], "--epochs"),
        # torch's generator takes no seed this big (and seed * 1_000_003 + epoch must fit)
        (["--seed", "99999999999999999999999"], "--seed: Input should be less than or equal"),
    ],
)
def test_train_cli_refuses_bad_arguments_in_one_line(args, message):
    done = subprocess.run(["mnistgrid", "train", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
