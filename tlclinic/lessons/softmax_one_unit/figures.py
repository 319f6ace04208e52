"""Lesson 01's figures: a classifier's curves and its histogram of predictions."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...plots import draw_losses, epoch_axis, epochs_of, overlay
from ...symptoms import accuracy, positive_probability
from ...training import Run


def draw_run(run: Run, fig: Figure, title: str = "") -> None:
    """Loss curves, validation accuracy against the class prior, and the histogram of predictions."""
    loss_ax, acc_ax, hist_ax = fig.subplots(1, 3)
    draw_losses(loss_ax, run)
    acc = [accuracy(p, run.val_targets) for p in run.val_predictions]
    acc_ax.plot(epochs_of(acc, run), acc, "-o", label="val accuracy")
    acc_ax.axhline(np.mean(run.val_targets == 1), color="grey", ls=":", label="class 1 share")
    acc_ax.set(ylim=(0, 1.02), title="accuracy")
    epoch_axis(acc_ax, run)
    acc_ax.legend(loc="lower right", fontsize="small")
    draw_prediction_histogram(hist_ax, run)
    if title:
        fig.suptitle(title)


def draw_prediction_histogram(ax, run: Run, label: str | None = None) -> None:
    probs = positive_probability(run.final_predictions)
    ax.hist(probs, bins=np.linspace(0, 1.0001, 21), alpha=0.7, label=label)
    ax.set(xlabel="P(class 1), predicted", ylabel="validation images", title="predictions", xlim=(0, 1.05))


def why_figure(broken: Run, fixed: Run) -> Figure:
    """The histograms of predictions of the broken and the fixed head, on one axes."""
    return overlay(draw_prediction_histogram, {"Dense(1, softmax): all 1.0": broken, "Dense(1, sigmoid)": fixed})
