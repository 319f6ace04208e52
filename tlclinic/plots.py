"""The lessons' figures, drawn onto a given matplotlib Figure (so live views can redraw in place)."""
from __future__ import annotations

import io

import numpy as np
from IPython.display import Image
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .symptoms import accuracy, positive_probability
from .training import Run


def _epochs(values) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def draw_classifier_run(run: Run, fig: Figure, title: str = "") -> None:
    """Loss curves, validation accuracy against the class prior, and the histogram of predictions."""
    loss_ax, acc_ax, hist_ax = fig.subplots(1, 3)
    draw_losses(loss_ax, run)
    acc = [accuracy(p, run.val_targets) for p in run.val_predictions]
    acc_ax.plot(_epochs(acc), acc, "-o", label="validation accuracy")
    acc_ax.axhline(np.mean(run.val_targets == 1), color="grey", ls=":", label="share of class 1")
    acc_ax.set(xlabel="epoch", ylim=(0, 1.02), title="accuracy")
    acc_ax.legend(loc="lower right")
    draw_prediction_histogram(hist_ax, run)
    if title:
        fig.suptitle(title)


def draw_losses(ax, run: Run) -> None:
    """Training and validation loss per epoch, as Keras prints them."""
    for key, style in (("loss", "-o"), ("val_loss", "--o")):
        ax.plot(_epochs(run.history[key]), run.history[key], style, label=key.replace("_", " "))
    ax.set(xlabel="epoch", ylabel="loss", title="the loss Keras prints")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()


def draw_regression_run(run: Run, fig: Figure, title: str = "") -> None:
    """Loss curves and predicted against true angle."""
    loss_ax, scatter_ax = fig.subplots(1, 2)
    draw_losses(loss_ax, run)
    draw_predicted_vs_true(scatter_ax, run)
    if title:
        fig.suptitle(title)


def draw_predicted_vs_true(ax, run: Run, label: str | None = None) -> None:
    """Each validation image as a point (true angle, predicted angle); a perfect model lies on the diagonal."""
    ax.scatter(run.val_targets, np.ravel(run.final_predictions), s=6, alpha=0.5, label=label)
    ax.plot([-1, 1], [-1, 1], color="grey", ls=":", lw=1)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="true steering angle", ylabel="predicted angle", title="predictions after training",
           xlim=(-1.05, 1.05), ylim=(-1.3, 1.3))


def draw_learning_rate_run(run: Run, fig: Figure, dead_fraction: float, title: str = "") -> None:
    """Loss curves on a log scale, and the share of hidden relu units that died."""
    loss_ax, dead_ax = fig.subplots(1, 2, width_ratios=(3, 1))
    draw_losses(loss_ax, run)
    loss_ax.set_yscale("log")
    dead_ax.bar(["dead", "alive"], [dead_fraction, 1 - dead_fraction], color=["tab:red", "tab:green"])
    dead_ax.set(ylim=(0, 1), title=f"hidden relu units: {dead_fraction:.0%} dead")
    if title:
        fig.suptitle(title)


def draw_learning_rate_sweep(ax, histories: dict[float, dict[str, list[float]]]) -> None:
    """The training loss per epoch at each learning rate (a run's ``history`` for each), on a log scale."""
    for rate, history in histories.items():
        ax.plot(_epochs(history["loss"]), history["loss"], "-o", label=f"{rate:g}")
    ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss at each learning rate")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="Adam learning rate")


def draw_range_test(ax, test) -> None:
    """Loss against learning rate (log scale) from a range test, with its suggestion."""
    ax.plot(test.learning_rates, test.losses, alpha=0.3, label="batch loss")
    ax.plot(test.learning_rates, test.smoothed, label="smoothed")
    ax.axvline(test.suggestion, color="tab:green", ls="--", label=f"suggestion {test.suggestion:.1e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title="learning-rate range test")
    ax.set_ylim(0, 3 * test.smoothed[0])  # the blow-up runs off the top
    ax.legend()


def draw_prediction_histogram(ax, run: Run, label: str | None = None) -> None:
    probs = positive_probability(run.final_predictions)
    ax.hist(probs, bins=np.linspace(0, 1.0001, 21), alpha=0.7, label=label)
    ax.set(xlabel="predicted probability of class 1", ylabel="validation images",
           title="predictions after training", xlim=(0, 1.05))


def overlay(draw, runs: dict[str, Run], width: float = 6, height: float = 3.6) -> Figure:
    """Several runs drawn by ``draw(ax, run, label)`` on one axes, with a legend."""
    fig = figure(width, height)
    ax = fig.subplots()
    for label, run in runs.items():
        draw(ax, run, label=label)
    ax.legend()
    return fig


def as_image(fig: Figure, dpi: int = 80) -> Image:
    """A figure as a PNG image for Jupyter: shows the same in JupyterLab, headless runs and widget outputs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(buffer.getvalue())


def figure(width: float = 12, height: float = 3.4) -> Figure:
    """A new figure that is not shown until asked (``as_image``), so live views can redraw it in place."""
    return Figure(figsize=(width, height), layout="constrained")
