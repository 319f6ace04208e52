"""Figure helpers every lesson draws with, onto a given matplotlib Figure (so live views can redraw in place).

The figures only one lesson draws live in that lesson's ``figures.py``.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from IPython.display import Image
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .training import Run


def epochs_of(values, run: Run | None = None) -> np.ndarray:
    """1, 2, ... for a per-epoch series; for a series of ``run`` seen before its first epoch ended (a live view's
    first picture), the share of that epoch trained."""
    return np.arange(len(values)) + (run.first_epoch_share if run else 1.0)


def epoch_axis(ax, run: Run, label: str = "epoch") -> None:
    """``ax``'s x axis as epochs, whole ones marked; from 0 to 1 for a run seen before its first epoch ended."""
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if run.first_epoch_share < 1:
        ax.set_xlim(0, 1.05)


def draw_losses(ax, run: Run) -> None:
    """Training and validation loss per epoch, as Keras prints them (the validation loss from the first epoch's
    end on)."""
    for key, style in (("loss", "-o"), ("val_loss", "--o")):
        if key in run.history:
            ax.plot(epochs_of(run.history[key], run), run.history[key], style, label=key.replace("_", " "))
    ax.set(ylabel="loss", title="the loss Keras prints")
    epoch_axis(ax, run)
    ax.legend()


def overlay(draw, runs: dict[str, Run], width: float = 6, height: float = 3.6) -> Figure:
    """Several runs drawn by ``draw(ax, run, label)`` on one axes, with a legend."""
    fig = figure(width, height)
    ax = fig.subplots()
    for label, run in runs.items():
        draw(ax, run, label=label)
    ax.legend()
    return fig


def side_by_side(draw: Callable[[Run, Figure, str], None], broken: Run, fixed: Run, titles: tuple[str, str],
                 width: float = 14, height: float = 3.6) -> Figure:
    """The broken and the fixed run drawn by the same ``draw``, next to each other."""
    fig = figure(width, height)
    for sub, run, title in zip(fig.subfigures(1, 2), (broken, fixed), titles):
        draw(run, sub, title)
    return fig


def suptitle(fig, title: str) -> None:
    """``fig``'s title (a figure's or a subfigure's), its words wrapped onto as many lines as it takes to fit the
    width of ``fig``, so that a long one (lesson 04's list of bugs) is not cut at the picture's edge."""
    text = fig.suptitle(title)
    lines: list[str] = []
    for word in title.split(" "):
        text.set_text(f"{lines[-1]} {word}" if lines else word)
        if lines and text.get_window_extent().width <= fig.bbox.width:
            lines[-1] = text.get_text()
        else:
            lines.append(word)
    text.set_text("\n".join(lines))


def as_image(fig: Figure, dpi: int = 80) -> Image:
    """A figure as a PNG image for Jupyter: shows the same in JupyterLab, headless runs and widget outputs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(buffer.getvalue())


def figure(width: float = 12, height: float = 3.4) -> Figure:
    """A new figure that is not shown until asked (``as_image``), so live views can redraw it in place."""
    return Figure(figsize=(width, height), layout="constrained")
