"""The pixel-similarity baseline's nearest mean, the posts' way against `torch.cdist`, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_baseline.py

The posts' way: every validation image against every class mean through an (M,C,784)
broadcast (`(a - b).abs().mean(-1)`, in chunks of 1,024 images to bound its memory), the way
mnistgrid computed it before. Both ways predict the same classes (checked here, and in
tests/unit/test_baseline.py); the baseline job (class means, then the predictions) and a report's
two baseline confusion matrices pay for them. All ten digits, validated on the test split.

Results: docs/benchmarks.md, section "Training core". No test asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from mnistgrid.core.baseline import class_means, predict
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec

# Post 1's `mnist_distance` and its squared twin, on flattened images.
POSTS_DISTANCES = {
    "mae": lambda a, b: (a - b).abs().mean(-1),
    "mse": lambda a, b: ((a - b) ** 2).mean(-1),
}


def posts_predict(means: torch.Tensor, x: torch.Tensor, distance: str) -> torch.Tensor:
    """The nearest mean the posts' way: (M,)."""
    dist = POSTS_DISTANCES[distance]
    return torch.cat([dist(xb[:, None, :], means[None]).argmin(-1) for xb in x.split(1024)])


def timed(run: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    tick = time.perf_counter()
    out = run()
    return time.perf_counter() - tick, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=9, help="runs of each way")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = load_settings()
    data = load_task(settings.data_dir, settings.cache_dir, DataSpec(valid="test"))
    means = class_means(data.x_train, data.y_train, data.n_classes)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(data.x_valid)} images")
    print(f"{'distance':<9} {'way':<6} {'median s':>9} {'best s':>7} {'ratio':>6}  predictions")
    ways = {"posts": posts_predict, "cdist": predict}
    for distance in POSTS_DISTANCES:
        # Alternately: each big broadcast leaves the allocator and the caches to the next run.
        times: dict[str, list[float]] = {way: [] for way in ways}
        outs = {}
        for _ in range(args.repeat):
            for way, run in ways.items():
                seconds, outs[way] = timed(lambda r=run, d=distance: r(means, data.x_valid, d))
                times[way].append(seconds)
        medians = {way: statistics.median(t) for way, t in times.items()}
        same = "the same" if torch.equal(outs["cdist"], outs["posts"]) else "DIFFERENT"
        for way, t in times.items():
            ratio = medians["posts"] / medians[way]
            print(
                f"{distance:<9} {way:<6} {medians[way]:>9.3f} {min(t):>7.3f} {ratio:>6.1f}  {same}"
            )


if __name__ == "__main__":
    main()
