"""Lesson 05's figures: the accuracy Keras prints against the accuracy of the deployed model, and its classes."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...plots import draw_losses, epoch_axis, epochs_of, side_by_side, suptitle
from .deployed import DeployedRun, accuracy, classes


def draw_run(run: DeployedRun, fig: Figure, title: str = "") -> None:
    """The loss Keras prints; the accuracy it prints against the deployed model's; the deployed model's classes."""
    loss_ax, acc_ax, class_ax = fig.subplots(1, 3)
    draw_losses(loss_ax, run)
    for key, style, label in (("accuracy", "-o", "train accuracy (pipeline)"),
                              ("val_accuracy", "--o", "val accuracy (pipeline)")):
        if key in run.history:  # the validation accuracy from the first epoch's end on
            acc_ax.plot(epochs_of(run.history[key], run), run.history[key], style, label=label)
    deployed = [accuracy(p, run.val_targets) for p in run.val_predictions]
    acc_ax.plot(epochs_of(deployed, run), deployed, "-s", color="crimson", label="deployed: raw images")
    acc_ax.set(ylim=(0, 1.02), title="accuracy")
    epoch_axis(acc_ax, run)
    acc_ax.legend(loc="lower right", fontsize="x-small")
    draw_classes(class_ax, run)
    if title:
        suptitle(fig, title)


def draw_classes(ax, run: DeployedRun) -> None:
    """How many raw test images the deployed model gives each class, against how many there are (a run's first
    picture has no deployed outputs yet: they come at the end of its first epoch)."""
    actual = np.bincount(run.val_targets.astype(int), minlength=2)
    where = np.arange(2)
    ax.bar(where - 0.2, actual, 0.4, color="grey", label="in the test set")
    if run.val_predictions:
        predicted = np.bincount(classes(run.final_predictions), minlength=2)
        ax.bar(where + 0.2, predicted, 0.4, color="crimson", label="predicted (raw images)")
    else:  # bars of no height: the legend says what will come
        ax.bar(where + 0.2, [0, 0], 0.4, color="crimson", label="predicted (raw images): after epoch 1")
    ax.set(xticks=where, xticklabels=["class 0", "class 1"], ylabel="test images", title="classes, deployed",
           xlabel=f"backbone input: {_span(run.train_range)} in training,\n{_span(run.deployed_range)} deployed",
           ylim=(0, len(run.val_targets) * 1.5))
    ax.legend(loc="upper left", fontsize="x-small")


def _span(pair: tuple[float, float]) -> str:
    return f"[{pair[0]:.3g}, {pair[1]:.3g}]"


def why_figure(broken: DeployedRun, fixed: DeployedRun) -> Figure:
    """The question's program and the fix, side by side."""
    return side_by_side(draw_run, broken, fixed, ("preprocessing in the data pipeline", "preprocessing in the model"),
                        height=3.6)
