"""The posts' training loop against the core, and fused stacks of 4, 8 and 16 jobs, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_core.py --epochs 3 --threads 2
    ... --gradients autograd,manual   # each stack both ways: autograd, and the backward by hand
    python benchmarks/bench_core.py --device cuda --stacks 1,16,64,256 --epochs 2 --threads 16

Prints seconds per epoch, config-epochs per second, the ratio to the posts' loop, and the
validation accuracy after the last epoch (the lr=1 member for fused stacks), so speed is compared
at equal accuracy. The posts' loop always runs on the CPU: it is the reference a GPU is
measured against.
"""

from __future__ import annotations

import argparse
import time
from itertools import product

import torch
from torch.utils.data import DataLoader

from mnistgrid.core.learner import fit
from mnistgrid.core.train_data import TrainData
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec, JobSpec


def posts_loop(data: TrainData, model: str, epochs: int, lr: float = 1.0) -> tuple[float, float]:
    """Post 1 as written: `list(zip(x, y))`, a shuffling DataLoader, `p.data -= p.grad * lr`.
    Returns seconds per epoch and the accuracy after the last."""
    torch.manual_seed(0)

    def init_params(size):
        return torch.randn(size).requires_grad_()

    if model == "linear":
        params = [init_params((28 * 28, 10)), init_params(10)]

        def net(xb):
            return xb @ params[0] + params[1]
    else:
        params = [
            init_params((28 * 28, 64)),
            init_params(64),
            init_params((64, 10)),
            init_params(10),
        ]

        def net(xb):
            return torch.sigmoid(xb @ params[0] + params[1]) @ params[2] + params[3]

    def cross_entropy_loss(preds, y):
        preds = torch.softmax(preds, axis=1)
        return -torch.log(preds[range(len(preds)), y]).mean()

    dl = DataLoader(
        list(zip(data.x_train, data.y_train, strict=True)), batch_size=256, shuffle=True
    )
    valid_dl = DataLoader(
        list(zip(data.x_valid, data.y_valid, strict=True)), batch_size=256, shuffle=False
    )
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in dl:
            cross_entropy_loss(net(xb), yb).backward()
            for p in params:
                p.data -= p.grad * lr
                p.grad.zero_()
        with torch.no_grad():
            accs = [(net(xb).argmax(1) == yb).float().mean() for xb, yb in valid_dl]
        accuracy = torch.stack(accs).mean().item()
    return (time.perf_counter() - start) / epochs, accuracy


def core(
    data: TrainData,
    model: str,
    epochs: int,
    group: int,
    device: str,
    mixed_seeds: bool,
    gradient: str = "autograd",
) -> tuple[float, float]:
    """`group` jobs with lrs spread around 1 (1 among them), trained as one stack; with
    `mixed_seeds` each member has its own seed, so its own shuffle and its own batches."""
    lrs = [1.0] if group == 1 else torch.logspace(-1, 0.5, group - 1).tolist() + [1.0]
    # The lr 1 member, last, keeps seed 0 either way: its accuracy is the one printed.
    seeds = list(reversed(range(len(lrs)))) if mixed_seeds else [0] * len(lrs)
    specs = [
        JobSpec(model=model, lr=lr, seed=seed, epochs=epochs, device=device, gradient=gradient)
        for lr, seed in zip(lrs, seeds, strict=True)
    ]
    data = data.to(device)
    if device == "cuda":
        # The first epoch of a shape on a GPU also loads its kernels and sizes the allocator's
        # pool: spend it untimed, as a worker does on its first job.
        fit([spec.model_copy(update={"epochs": 1}) for spec in specs], data)
        torch.cuda.synchronize()
    start = time.perf_counter()
    results = fit(specs, data)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / epochs, results[-1].final.valid_acc


def device_label(device: str) -> str:
    return f"cuda ({torch.cuda.get_device_name()})" if device == "cuda" else device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="linear,mlp")
    parser.add_argument(
        "--groups", "--stacks", dest="groups", default="1,4,8,16", help="stack sizes to time"
    )
    parser.add_argument(
        "--mixed-seeds",
        action="store_true",
        help="stack members on different seeds (the lr 1 member keeps seed 0)",
    )
    parser.add_argument(
        "--gradients",
        default="autograd,manual",
        help="how the core's stacks get their gradients: autograd, manual (by hand), or "
        "autograd,manual (each stack both ways)",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where the core trains; the posts' loop stays on the CPU",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = load_settings()
    data = load_task(settings.data_dir, settings.cache_dir, DataSpec())
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.epochs} epochs each, "
        f"core on {device_label(args.device)}"
    )
    print(f"{'model':<7} {'way':<20} {'s/epoch':>8} {'cfg-ep/s':>9} {'ratio':>6} {'accuracy':>9}")
    for model in args.models.split(","):
        base_seconds, accuracy = posts_loop(data, model, args.epochs)
        print(
            f"{model:<7} {'posts loop':<20} {base_seconds:>8.3f} {1 / base_seconds:>9.2f} "
            f"{1.0:>6.2f} {accuracy:>9.4f}"
        )
        for group, gradient in product(
            map(int, args.groups.split(",")), args.gradients.split(",")
        ):
            seconds, accuracy = core(
                data, model, args.epochs, group, args.device, args.mixed_seeds, gradient
            )
            rate = group / seconds
            name = "core, 1 job" if group == 1 else f"fused x{group}"
            name += " mixed" if args.mixed_seeds and group > 1 else ""
            name += " hand" if gradient == "manual" else ""
            print(
                f"{model:<7} {name:<20} {seconds:>8.3f} {rate:>9.2f} "
                f"{rate * base_seconds:>6.2f} {accuracy:>9.4f}"
            )


if __name__ == "__main__":
    main()
