"""The lessons' figures, drawn onto a given matplotlib Figure (so live views can redraw in place)."""
from __future__ import annotations

import io

import numpy as np
from IPython.display import Image
from matplotlib.figure import Figure

from .symptoms import accuracy, positive_probability
from .training import Run


def _epochs(values) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def draw_classifier_run(run: Run, fig: Figure, title: str = "") -> None:
    """Loss curves, validation accuracy against the class prior, and the histogram of predictions."""
    loss_ax, acc_ax, hist_ax = fig.subplots(1, 3)
    for key, style in (("loss", "-o"), ("val_loss", "--o")):
        loss_ax.plot(_epochs(run.history[key]), run.history[key], style, label=key.replace("_", " "))
    loss_ax.set(xlabel="epoch", ylabel="loss", title="the loss Keras prints")
    loss_ax.legend()
    acc = [accuracy(p, run.val_targets) for p in run.val_predictions]
    acc_ax.plot(_epochs(acc), acc, "-o", label="validation accuracy")
    acc_ax.axhline(np.mean(run.val_targets == 1), color="grey", ls=":", label="share of class 1")
    acc_ax.set(xlabel="epoch", ylim=(0, 1.02), title="accuracy")
    acc_ax.legend(loc="lower right")
    draw_prediction_histogram(hist_ax, run)
    if title:
        fig.suptitle(title)


def draw_prediction_histogram(ax, run: Run, label: str | None = None) -> None:
    probs = positive_probability(run.final_predictions)
    ax.hist(probs, bins=np.linspace(0, 1.0001, 21), alpha=0.7, label=label)
    ax.set(xlabel="predicted probability of class 1", ylabel="validation images",
           title="predictions after training", xlim=(0, 1.05))


def as_image(fig: Figure, dpi: int = 80) -> Image:
    """A figure as a PNG image for Jupyter: shows the same in JupyterLab, headless runs and widget outputs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(buffer.getvalue())


def figure(width: float = 12, height: float = 3.4) -> Figure:
    """A new figure that is not shown until asked (``as_image``), so live views can redraw it in place."""
    return Figure(figsize=(width, height), layout="constrained")
