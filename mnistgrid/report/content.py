"""What the report says, section by section, as blocks (see document.py)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from mnistgrid.report.confusion import Confusion, Unavailable
from mnistgrid.report.document import (
    Block,
    Bullets,
    FileLink,
    Heading,
    Image,
    Notice,
    Paragraph,
    Table,
)
from mnistgrid.report.formats import acc, seconds, seeds_text
from mnistgrid.report.gather import (
    FAILED,
    FAMILIES,
    UNFINISHED,
    FullGrid,
    JobResult,
    SweepData,
)
from mnistgrid.report.paths import CSV
from mnistgrid.report.summary import (
    FamilyBest,
    LossBest,
    digit_order,
    gap_verdicts,
    per_digit,
    rung_counts,
    several_seeds,
    stopping_summary,
)


def report_blocks(
    data: SweepData,
    bests: list[FamilyBest],
    loss_bests: list[LossBest],
    confusions: Mapping[str, Confusion | Unavailable],
    figures: Mapping[str, str],
) -> list[Block]:
    """Plots first: the headline, then each figure with the table that gives its numbers."""
    return [
        *overview(data),
        *headline(data, bests, figures),
        *figure_section("Learning curves", figures, "curves", CURVES_TEXT),
        *lr_section(data, figures),
        *loss_section(loss_bests, figures),
        *digit_section(data, bests, confusions, figures),
        *cost_section(data, figures),
        *problem_section(data),
        *every_job(data),
    ]


# Past this many jobs the report's table keeps the best ones; results.csv has every job.
MAX_JOB_ROWS = 500


def every_job(data: SweepData) -> list[Block]:
    """A row per job (the best MAX_JOB_ROWS of a bigger sweep), and the CSV with all."""
    jobs = list(data.jobs)
    shown = jobs
    if len(jobs) > MAX_JOB_ROWS:
        ranked = sorted(jobs, key=lambda j: (j.best_acc is None, -(j.best_acc or 0), j.job_id))
        kept = {j.job_id for j in ranked[:MAX_JOB_ROWS]}
        shown = [j for j in jobs if j.job_id in kept]
    what = (
        f"One row per job ({len(jobs)} jobs)"
        if shown is jobs
        else f"The {MAX_JOB_ROWS} jobs with the highest best accuracy of {len(jobs)}"
    )
    rows = tuple(
        (
            f"#{j.job_id}",
            j.config_label,
            "" if j.seed is None else str(j.seed),
            j.status,
            f"{j.last_epoch}/{1 if j.model == 'baseline' else j.spec.epochs}",
            acc(j.final_acc),
            acc(j.best_acc),
            str(j.best_epoch or ""),
            seconds(j.seconds),
        )
        for j in shown
    )
    header = ("job", "configuration", "seed", "status", "epochs", "final accuracy",
              "best accuracy", "best epoch", "training seconds")  # fmt: skip
    return [
        Heading("Every job"),
        Paragraph(f"{what}, in job order. Every job, every column: {CSV}."),
        Table(header, rows, (False, False, True, False, True, True, True, True, True)),
        FileLink(CSV, f"One row per job ({len(jobs)} rows), with its configuration and outcome"),
    ]


CURVES_TEXT = (
    "Validation accuracy after each epoch, one panel per model and loss, one line per "
    "learning rate (the mean over seeds, with a band from the lowest to the highest seed where "
    "there are several). Dashed lines: the pixel-similarity baselines. A black square ends the "
    "curve of a run the sweep's stopping rule stopped early."
)
LR_TEXT = (
    "Final validation accuracy against the learning rate. Diverged runs are marked with a red x "
    "at the bottom of their panel, at their learning rate; they are not left out. Runs stopped "
    "early by the sweep's stopping rule are ringed in black: theirs is the accuracy where they "
    "stopped."
)


def title(data: SweepData) -> str:
    return f"Sweep {data.sweep.name}"


def overview(data: SweepData) -> list[Block]:
    sweep = data.sweep
    counts = ", ".join(f"{n} {status}" for status, n in sweep.counts.items() if n)
    made = f"{data.made_at:%Y-%m-%d %H:%M:%S} UTC"
    ended = f", finished {sweep.finished_at:%Y-%m-%d %H:%M}" if sweep.finished_at else ""
    blocks: list[Block] = [
        Paragraph(
            f"Sweep id {sweep.sweep_id}, status **{sweep.status}**: {len(data.jobs)} jobs "
            f"({counts or 'none'}). Created {sweep.created_at:%Y-%m-%d %H:%M}{ended}; this report "
            f"was made {made}."
        ),
        Paragraph(task_text(data)),
    ]
    if not data.finished or sweep.status in UNFINISHED:
        waiting = {s: sum(j.status == s for j in data.jobs) for s in UNFINISHED}
        blocks.insert(
            0,
            Notice(
                "this sweep was **not finished** when this report was made: "
                f"{waiting['running']} running"
                + (f", {waiting['parked']} parked at a rung" if waiting["parked"] else "")
                + f" and {waiting['queued']} queued jobs. Their "
                "figures are the epochs stored so far; make the report again when the sweep has "
                "ended."
            ),
        )
    elif sweep.status == "cancelled":
        blocks.insert(0, Notice("this sweep was **cancelled**: some jobs never ran."))
    return blocks


def task_text(data: SweepData) -> str:
    if not data.jobs:
        return "The sweep has no jobs."
    spec = data.jobs[0].spec.data
    task = (
        "all ten digits"
        if spec.digits is None
        else f"digits {spec.digits[0]} against {spec.digits[1]} (a two-class task)"
    )
    valid = (
        "the MNIST test split"
        if spec.valid == "test"
        else f"{spec.valid:.0%} of the training split (split seed {spec.split_seed})"
    )
    scaled = "standardised pixels" if spec.normalize else "pixels scaled to [0, 1]"
    return f"Task: {task}; validated on {valid}; {scaled}."


def headline(data: SweepData, bests: list[FamilyBest], figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading("Headline")]
    if not bests:
        return blocks + [Paragraph("No job has a validation accuracy yet.")]
    rows = tuple(
        (
            b.family,
            acc(b.job.best_acc),
            acc(b.mean_class_acc),
            seeds_text(b.seeds),
            b.job.config_label,
            str(b.job.best_epoch or ""),
            seconds(b.job.seconds),
            b.reference_text,
            f"#{b.job.job_id}" + ("" if b.job.status == "succeeded" else f" ({b.job.status})"),
        )
        for b in bests
    )
    header = (
        "family",
        "best accuracy",
        "mean per-class accuracy",
        "over seeds",
        "configuration",
        "peak epoch",
        "training seconds",
        "source post",
        "job",
    )
    blocks += [
        Paragraph(
            "Each family's best job by validation accuracy, the epoch where it peaked, "
            "and the figure the source posts report for the same model." + epochs_note(bests)
        ),
        Table(header, rows, (False, True, True, False, False, True, True, False, False)),
    ]
    if several_seeds(data):
        verdicts = gap_verdicts(bests)
        blocks += (
            [
                Paragraph("Gaps between families against the spread over seeds:"),
                Bullets(tuple(verdicts)),
            ]
            if verdicts
            else []
        )
    else:
        blocks.append(
            Paragraph(
                "Each configuration ran with one seed, so there is no spread "
                "over seeds to weigh the gaps between families against."
            )
        )
    return (
        blocks
        + stopping_blocks(data, bests)
        + image(figures, "headline", "best accuracy per family")
    )


# The epochs behind the source posts' linear and MLP figures.
POSTS_EPOCHS = 40


def epochs_note(bests: list[FamilyBest]) -> str:
    """Said when the sweep trained fewer epochs than the posts' figures took: a lower figure
    here may only mean a shorter run."""
    short = [
        f"{b.family} {b.job.spec.epochs}"
        for b in bests
        if b.reference is not None
        and not b.family.startswith("baseline")
        and b.job.spec.epochs < POSTS_EPOCHS
    ]
    if not short:
        return ""
    return (
        f" The posts' linear and MLP figures are after {POSTS_EPOCHS} epochs; this sweep's "
        f"best jobs trained for fewer ({', '.join(short)}), so theirs are not the same "
        "length of training: a lower figure here may only mean a shorter run."
    )


def stopping_blocks(data: SweepData, bests: list[FamilyBest]) -> list[Block]:
    """What the sweep's early-stopping rule did: epochs and time saved, and whether each
    family's best is the one the full grid found, where a full run of this grid is known."""
    rule = data.stop
    if not rule.active:
        return []
    done = stopping_summary(data)
    brackets = "per model family" if rule.brackets == "family" else "across the whole grid"
    options = f"grace {rule.grace}" + (
        f", min_jobs {rule.min_jobs}" if rule.rule == "median" else f", reduction {rule.reduction}"
    )
    blocks: list[Block] = [
        Paragraph(
            f"Early stopping: **{rule.rule}** ({options}, {brackets}) on {rule.metric} "
            f"({rule.mode}). It stopped {done.stopped} jobs and trained {done.trained_epochs} "
            f"of the full grid's {done.full_epochs} epochs ({done.ratio:.1f}x fewer), saving "
            f"about {seconds(done.seconds_saved)} s of training (each model's mean epoch time "
            "times the epochs it did not train)."
        ),
        *rung_blocks(data),
    ]
    full = data.full_grid
    if full is None:
        return blocks + [
            Paragraph(
                "No finished sweep of this grid without a stopping rule is in the store, so "
                "whether each family's best is the one the full grid finds is not known."
            )
        ]
    rows = tuple(
        (b.family, acc(b.job.best_acc), acc(full.best_acc.get(b.family)), same_best(b, full))
        for b in bests
    )
    header = ("family", "best, stopping early", f"best, full grid ({full.sweep_name})", "")
    return blocks + [Table(header, rows, (False, True, True, False))]


def rung_blocks(data: SweepData) -> list[Block]:
    """At each rung (of each Hyperband bracket): how many jobs reached it, went on, stopped."""
    counts = rung_counts(data)
    if not counts:
        return []
    header = ("rung", "jobs that reached it", "went on", "stopped there")
    cells = tuple((c.name, str(c.reached), str(c.went_on), str(c.stopped)) for c in counts)
    return [Table(header, cells, (False, True, True, True))]


def same_best(best: FamilyBest, full: FullGrid) -> str:
    theirs = full.best_acc.get(best.family)
    if theirs is None or best.job.best_acc is None:
        return ""
    gap = best.job.best_acc - theirs
    return "the same" if abs(gap) < 5e-5 else f"{gap:+.4f}"


def figure_section(name: str, figures: Mapping[str, str], key: str, text: str) -> list[Block]:
    return [Heading(name), Paragraph(text), *image(figures, key, name)]


def lr_section(data: SweepData, figures: Mapping[str, str]) -> list[Block]:
    lrs = data.lrs
    if len(lrs) < 2:
        text = (
            f"Every trained job of this sweep has the same learning rate ({lrs[0]:g})."
            if lrs
            else "This sweep trained no model."
        )
        return [Heading("Learning-rate sensitivity"), Paragraph(text)]
    return figure_section("Learning-rate sensitivity", figures, "lr_sensitivity", LR_TEXT)


def loss_section(bests: list[LossBest], figures: Mapping[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading("Loss comparison")]
    if not bests:
        return blocks + [Paragraph("No trained job has an accuracy yet.")]
    rows = tuple(
        (b.model, b.loss, acc(b.acc.mean), seeds_text(b.acc), b.group.first.config_label)
        for b in bests
    )
    header = ("model", "loss", "best accuracy", "over seeds", "best configuration")
    return blocks + [
        Paragraph(
            "For each model, the best accuracy each loss reached at its best learning "
            "rate (the mean over seeds of that configuration)." + mnist_loss_note(bests)
        ),
        *image(figures, "losses", "loss comparison"),
        Table(header, rows, (False, False, True, False, False)),
    ]


def mnist_loss_note(bests: list[LossBest]) -> str:
    """`mnist_loss` is the posts' loss for two classes; on ten digits it stays low, and
    that is no fault."""
    ten = [b for b in bests if b.loss == "mnist_loss" and b.group.first.spec.data.digits is None]
    if not ten:
        return ""
    return (
        " `mnist_loss` is the posts' loss for two classes (3 against 7: a sigmoid of one "
        "output against a 0/1 target). On all ten digits it becomes a sigmoid per class "
        "against the one-hot target: nine of ten targets are 0, so it mostly pushes every "
        "output down, learns slowly and reaches far less than the other two losses (here "
        f"{acc(max(b.acc.mean for b in ten))} at best). That is expected, not a fault."
    )


def digit_section(
    data: SweepData,
    bests: list[FamilyBest],
    confusions: Mapping[str, Confusion | Unavailable],
    figures: Mapping[str, str],
) -> list[Block]:
    blocks: list[Block] = [Heading("Per-digit accuracy")]
    if not bests:
        return blocks + [Paragraph("No job has a validation accuracy yet.")]
    digits = [data.classes[i] for i in digit_order(data.classes)]
    rows = []
    for b in bests:
        values = per_digit(b.job, data.classes)
        rows.append(
            (
                b.family,
                f"#{b.job.job_id}",
                str(b.job.best_row.epoch) if b.job.best_row else "",
                *(acc(values.get(d)) for d in digits),
            )
        )
    header = ("family", "job", "epoch", *(f"digit {d}" for d in digits))
    blocks += [
        Paragraph(
            "Accuracy on each digit of each family's best job, at its best epoch, as "
            "the workers stored it."
        ),
        Table(header, tuple(rows), (False, False, True, *([True] * len(digits)))),
        *image(figures, "per_digit", "per-digit accuracy"),
        Heading("Confusion matrices", 3),
    ]
    return blocks + confusion_notes(data, bests, confusions, figures)


def confusion_notes(
    data: SweepData,
    bests: list[FamilyBest],
    confusions: Mapping[str, Confusion | Unavailable],
    figures: Mapping[str, str],
) -> list[Block]:
    """Where each matrix came from, and how it agrees with the stored per-digit accuracy."""
    notes = []
    for b in bests:
        found = confusions.get(b.family)
        if isinstance(found, Confusion):
            notes.append(
                f"{b.family} (#{b.job.job_id}): from {found.source}; {agreement(b.job, found)}."
            )
        else:
            reason = found.reason if found else "not computed"
            notes.append(f"{b.family} (#{b.job.job_id}): no matrix, {reason}.")
    blocks: list[Block] = [
        Paragraph(
            "The store keeps per-digit accuracy, not predictions, so a matrix is only "
            "shown where the predictions could be made again: the baseline from the data "
            "(its class means), a trained job from its stored checkpoint."
        ),
        Bullets(tuple(notes)),
    ]
    return blocks + image(figures, "confusion", "confusion matrices")


def agreement(job: JobResult, confusion: Confusion) -> str:
    """Compare the recomputed per-class accuracy with the stored epoch it stands for."""
    if confusion.epoch is None:
        row = job.best_row
    else:
        row = next((r for r in job.epochs if r.epoch == confusion.epoch), None)
    if row is None:
        return "no stored epoch to compare it with"
    pairs = [
        (a, b)
        for a, b in zip(confusion.per_class_acc(), row.per_class_acc, strict=False)
        if math.isfinite(a) and math.isfinite(b)
    ]
    worst = max((abs(a - b) for a, b in pairs), default=0.0)
    verdict = "agrees with" if worst < 1e-4 else f"differs (by up to {worst:.4f}) from"
    return f"its per-digit accuracy {verdict} the stored epoch {row.epoch}"


def cost_section(data: SweepData, figures: Mapping[str, str]) -> list[Block]:
    rows = []
    for family in FAMILIES:
        jobs = [j for j in data.of_family(family) if j.seconds is not None]
        if not jobs:
            continue
        secs = [j.seconds for j in jobs]
        best = max(
            (j for j in jobs if j.best_acc is not None), key=lambda j: j.best_acc, default=None
        )
        rows.append(
            (
                family,
                str(len(jobs)),
                seconds(sum(secs)),
                seconds(statistics.median(secs)),
                acc(best.best_acc) if best else "",
                seconds(best.seconds) if best else "",
            )
        )
    header = (
        "family",
        "jobs",
        "total seconds",
        "median seconds per job",
        "best accuracy",
        "seconds of the best job",
    )
    return [
        Heading("Cost"),
        Paragraph("Training seconds per job (the sum of its epochs) against its best accuracy."),
        *image(figures, "cost", "training seconds against accuracy"),
        Table(header, tuple(rows), (False, True, True, True, True, True)),
    ]


def problem_section(data: SweepData) -> list[Block]:
    blocks: list[Block] = [Heading("Failed, diverged and unfinished jobs")]
    bad = [j for j in data.jobs if j.status in FAILED]
    if bad:
        rows = tuple(
            (
                f"#{j.job_id}",
                j.config_label + ("" if j.seed is None else f" seed={j.seed}"),
                j.status,
                str(j.epochs[-1].epoch if j.epochs else 0),
                acc(j.best_acc),
                j.error or ("the loss became NaN or infinite" if j.status == "diverged" else ""),
            )
            for j in bad
        )
        header = ("job", "configuration", "status", "epochs stored", "best accuracy", "error")
        blocks.append(Table(header, rows, (False, False, False, True, True, False)))
    else:
        blocks.append(Paragraph("No job failed, diverged or was cancelled."))
    waiting = [j for j in data.jobs if j.status in UNFINISHED]
    if waiting:
        rows = tuple(
            (
                f"#{j.job_id}",
                j.config_label + ("" if j.seed is None else f" seed={j.seed}"),
                f"**{j.status}** when the report was made",
                str(len(j.epochs)),
                acc(j.epochs[-1].valid_acc if j.epochs else None),
            )
            for j in waiting
        )
        header = ("job", "configuration", "status", "epochs stored", "last accuracy")
        blocks += [
            Heading("Still running or queued", 3),
            Table(header, rows, (False, False, False, True, True)),
        ]
    return blocks


def image(figures: Mapping[str, str], key: str, alt: str) -> list[Block]:
    return [Image(figures[key], alt)] if key in figures else []
