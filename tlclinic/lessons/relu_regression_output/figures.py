"""Lesson 02's figures: a regressor's curves and its predicted against true angles."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...plots import draw_losses, overlay, suptitle
from ...training import Run


def draw_run(run: Run, fig: Figure, title: str = "") -> None:
    """Loss curves and predicted against true angle."""
    loss_ax, scatter_ax = fig.subplots(1, 2)
    draw_losses(loss_ax, run)
    draw_predicted_vs_true(scatter_ax, run)
    if title:
        suptitle(fig, title)


def draw_predicted_vs_true(ax, run: Run, label: str | None = None) -> None:
    """Each validation image as a point (true angle, predicted angle); a perfect model lies on the diagonal."""
    ax.scatter(run.val_targets, np.ravel(run.final_predictions), s=6, alpha=0.5, label=label)
    ax.plot([-1, 1], [-1, 1], color="grey", ls=":", lw=1)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="true steering angle", ylabel="predicted angle", title="predictions",
           xlim=(-1.05, 1.05), ylim=(-1.3, 1.3))


def why_figure(broken: Run, fixed: Run) -> Figure:
    """Predicted against true angle for the relu head and the linear one, on one axes."""
    return overlay(draw_predicted_vs_true, {"Dense(1, relu)": broken, "Dense(1) linear": fixed}, height=4)
