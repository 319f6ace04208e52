"""Lesson 04's figures: one pipeline's two stages and the grader's criteria, and the ablation over seeds."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...plots import epoch_axis, epochs_of, figure, suptitle
from ...symptoms import accuracy
from .pipeline import PipelineRun


def draw_run(run: PipelineRun, fig: Figure, title: str = "", criteria=()) -> None:
    """Validation accuracy through both stages, and each graded criterion with what was measured."""
    acc_ax, text_ax = fig.subplots(1, 2, width_ratios=(1, 1.3))
    acc = [accuracy(p, run.val_targets) for p in run.val_predictions]
    acc_ax.plot(epochs_of(acc, run), acc, "-o", label="validation accuracy")
    acc_ax.axvline(run.head_epochs + 0.5, color="grey", ls=":", label="fine-tuning starts")
    acc_ax.axhline(0.5, color="lightgrey", ls="--", label="chance")
    acc_ax.set(ylim=(0.4, 1.0), title="accuracy through both stages")
    epoch_axis(acc_ax, run, "epoch (head, then fine-tuning)")
    acc_ax.legend(loc="lower right", fontsize="small")
    text_ax.axis("off")
    text_ax.set_title("what the grader measures", loc="left")
    for row, (name, measured, ok) in enumerate(criteria):
        y = 0.92 - row * 0.16
        verdict, colour = {True: ("pass", "green"), False: ("FAIL", "crimson"), None: ("…", "grey")}[ok]
        text_ax.text(0.0, y, verdict, color=colour, weight="bold", transform=text_ax.transAxes, va="top")
        text_ax.text(0.12, y, f"{name}\n{measured}", transform=text_ax.transAxes, va="top", fontsize="small")
    if title:
        suptitle(fig, title)


def ablation_figure(rows: list[dict], note: str) -> Figure:
    """Each pipeline's validation accuracy over seeds: after fine-tuning (mean, min-max) and before it."""
    fig = figure(11, 0.45 * len(rows) + 2.0)
    ax = fig.subplots()
    names = [row["head"] for row in rows][::-1]
    for y, row in enumerate(rows[::-1]):
        tuned, frozen = (np.asarray(row[key], dtype=float) for key in ("values", "also_values"))  # null: raised
        ax.plot([np.nanmin(tuned), np.nanmax(tuned)], [y, y], color="tab:blue", lw=3, alpha=0.5)
        ax.plot(np.nanmean(tuned), y, "o", color="tab:blue",
                label="after fine-tuning: mean, min-max" if y == 0 else None)
        ax.plot(np.nanmean(frozen), y, "|", color="black", ms=12,
                label="head only (frozen backbone): mean" if y == 0 else None)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="validation accuracy (100 test images)", xlim=(0.45, 1.0))
    ax.axvline(0.5, color="lightgrey", ls="--")
    ax.set_title(note, loc="left", fontsize="small")
    fig.legend(loc="outside lower center", ncols=2, fontsize="small")
    return fig
