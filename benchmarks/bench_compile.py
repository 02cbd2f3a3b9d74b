"""The fused training step compiled (`torch.compile`) against eager, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_compile.py --stacks 32
    python benchmarks/bench_compile.py --device cuda --stacks 64,256   # the GPU proof runs this

For each stack size, one epoch of SGD over all ten digits (batches of 256) for a linear stack
trained by hand and wide (mnistgrid/core/wide.py's step) and for an MLP stack through autograd,
each step eager and compiled: seconds per epoch, the ratio, and the compile's own seconds (the
first epoch, apart). On a GPU the compiled step uses `mode="reduce-overhead"` (CUDA graphs: the
per-batch launches that remain of a fused step once its matmuls are fast); on the CPU the
default mode, which builds C++ kernels and so needs a C++ compiler at run time. Each step is
written without in-place updates of its inputs, so that CUDA graphs can take it whole.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from mnistgrid.core.losses import cross_entropy
from mnistgrid.core.wide import loss_and_grad
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec

BATCH = 256
HIDDEN = 64
Step = Callable[..., tuple[torch.Tensor, ...]]


def linear_step(
    wide: torch.Tensor, bias: torch.Tensor, lr: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The wide step by hand: (784, K*10) weights, the update as one matmul."""
    k = wide.shape[1] // 10
    z = torch.addmm(bias, xb, wide).view(xb.shape[0], k, 10)
    loss, grad = loss_and_grad("cross_entropy", z, yb)
    step = grad.reshape(xb.shape[0], k * 10) * lr
    return wide - xb.T @ step, bias - step.sum(0), loss


def mlp_step(
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    lr: torch.Tensor,
    xb: torch.Tensor,
    yb: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """The autograd step of an MLP stack: (K,784,H) and (K,H,10) weights."""
    params = [p.detach().requires_grad_() for p in (w1, b1, w2, b2)]
    with torch.enable_grad():
        hidden = torch.sigmoid(torch.einsum("bn,knh->kbh", xb, params[0]) + params[1][:, None])
        logits = torch.bmm(hidden, params[2]) + params[3][:, None]
        loss = cross_entropy(logits, yb)
        grads = torch.autograd.grad(loss.sum(), params)
    shape = (-1, 1, 1)
    new = [p - g * lr.view(shape[: p.dim()]) for p, g in zip(params, grads, strict=True)]
    return (*(p.detach() for p in new), loss.detach())


def start_state(model: str, k: int, device: torch.device) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    lr = torch.logspace(-1, 0.5, k)
    if model == "linear":
        state = [
            torch.randn(784, k * 10, generator=g),
            torch.zeros(k * 10),
            lr.repeat_interleave(10),
        ]
    else:
        state = [
            torch.randn(k, 784, HIDDEN, generator=g),
            torch.zeros(k, HIDDEN),
            torch.randn(k, HIDDEN, 10, generator=g),
            torch.zeros(k, 10),
            lr,
        ]
    return [t.to(device) for t in state]


def epoch(step: Step, state: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds for one epoch of full batches (a last short batch would be another graph)."""
    *params, lr = state
    order = torch.randperm(len(y), device=x.device)
    sync(x.device)
    start = time.perf_counter()
    for idx in order[: len(y) // BATCH * BATCH].split(BATCH):
        *params, _ = step(*params, lr, x.index_select(0, idx), y.index_select(0, idx))
    sync(x.device)
    return time.perf_counter() - start


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compiled(step: Step, device: torch.device) -> Step:
    mode = "reduce-overhead" if device.type == "cuda" else None
    return torch.compile(step, mode=mode, dynamic=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--stacks", default="32", help="stack sizes, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="linear,mlp")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    settings = load_settings()
    data = load_task(settings.data_dir, settings.cache_dir, DataSpec()).to(device)
    x, y = data.x_train, data.y_train
    print(f"torch {torch.__version__}, {args.device}, {args.threads} CPU threads, batch {BATCH}")
    heads = ("eager s", "compiled s", "ratio", "compile s")
    print(f"{'model':<7} {'stack':>5} " + " ".join(f"{h:>10}" for h in heads))
    steps = {"linear": linear_step, "mlp": mlp_step}
    for model in args.models.split(","):
        for k in map(int, args.stacks.split(",")):
            eager = min(epoch(steps[model], start_state(model, k, device), x, y) for _ in range(2))
            fast = compiled(steps[model], device)
            first = epoch(fast, start_state(model, k, device), x, y)  # compiles, then runs
            warm = min(epoch(fast, start_state(model, k, device), x, y) for _ in range(2))
            print(
                f"{model:<7} {k:>5} {eager:>10.3f} {warm:>10.3f} {eager / warm:>10.2f} "
                f"{first - warm:>10.1f}"
            )


if __name__ == "__main__":
    main()
