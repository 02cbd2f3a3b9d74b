"""Shapes and memory of the models, as plain arithmetic (no torch: the orchestrator uses it)."""

from __future__ import annotations

from mnistgrid.spec import JobSpec

N_PIXELS = 28 * 28
# Validation runs in chunks of this many images, to bound a stack's activations.
VALID_CHUNK = 2048


def n_outputs(n_classes: int) -> int:
    # A pair is one logit through a sigmoid, as in the 3-vs-7 and 4-vs-8 posts.
    return 1 if n_classes == 2 else n_classes


def member_params(spec: JobSpec) -> int:
    n_out = n_outputs(spec.data.n_classes)
    hidden = spec.hidden if spec.model == "mlp" else 0
    return (N_PIXELS + 1) * (hidden or n_out) + ((hidden + 1) * n_out if hidden else 0)


def member_bytes(spec: JobSpec) -> int:
    """About how much memory one member of a stack needs: parameters and their gradients, and
    the activations of a training batch and of a validation chunk (float32)."""
    hidden = spec.hidden if spec.model == "mlp" else 0
    n_out = n_outputs(spec.data.n_classes)
    activations = (3 * spec.batch_size + 2 * VALID_CHUNK) * (hidden + n_out)
    return 4 * (2 * member_params(spec) + activations)


def member_work(spec: JobSpec, epochs_done: int) -> int:
    """About how much training one member has left, in parameter-passes: its parameters times
    the examples of its epochs to come (a class is about a tenth of MNIST's examples)."""
    return member_params(spec) * spec.data.n_classes * max(0, spec.epochs - epochs_done)
