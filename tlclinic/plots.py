"""Figure helpers every lesson draws with, onto a given matplotlib Figure (so live views can redraw in place).

The figures only one lesson draws live in that lesson's ``figures.py``.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import PIL.Image
from IPython.display import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .training import Run


def epochs_of(values, run: Run | None = None) -> np.ndarray:
    """1, 2, ... for a per-epoch series; for a series of ``run`` seen before its first epoch ended (a live view's
    first picture), the share of that epoch trained."""
    return np.arange(len(values)) + (run.first_epoch_share if run else 1.0)


def epoch_axis(ax, run: Run, label: str = "epoch") -> None:
    """``ax``'s x axis as epochs, whole ones marked; from 0 to 1 for a run seen before its first epoch ended or
    at its end (a single point, which would otherwise be given an axis of hundredths around it)."""
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if run.first_epoch_share < 1 or len(run.history.get("loss", ())) <= 1:
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
    width of ``fig``, so that a long one (lesson 04's list of bugs) is not cut at the picture's edge.  The lines
    are kept by title, width, font and resolution: measuring each word took 30 ms of every picture of lesson 04 on a
    2-core machine, and a live view draws the same title again and again."""
    text = fig.suptitle(title)
    key = (title, fig.bbox.width, text.get_fontproperties(), fig.dpi)
    if key not in _WRAPPED:
        lines: list[str] = []
        for word in title.split(" "):
            text.set_text(f"{lines[-1]} {word}" if lines else word)
            if lines and text.get_window_extent().width <= fig.bbox.width:
                lines[-1] = text.get_text()
            else:
                lines.append(word)
        _WRAPPED[key] = "\n".join(lines)
    text.set_text(_WRAPPED[key])


_WRAPPED: dict = {}  # (title, width, font, dpi) -> the title's lines (a few per lesson)


def as_image(fig: Figure, dpi: int = 80) -> Image:
    """A figure as a PNG image for Jupyter: shows the same in JupyterLab, headless runs and widget outputs.

    The figure is drawn once, with Agg, and its pixels written as PNG: the same pixels as ``fig.savefig(...,
    dpi=dpi)``, which draws a figure with a layout engine twice (once to lay it out, then again to render it, laying
    it out anew): 0.36 s against 0.45 s for lesson 01's picture on a 2-core machine, 0.20 s against 0.30 s for one
    drawn without its layout (``KeptLayout``)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    kept_dpi, fig.dpi = fig.dpi, dpi
    try:
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
    finally:
        fig.dpi = kept_dpi
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="png")
    return Image(buffer.getvalue())


class KeptLayout:
    """A live view's layouts, computed at one picture and reused by the growing pictures of the same shape.

    Matplotlib's constrained layout measures every tick label and title to place the axes: a third of the time a
    lesson's picture takes to draw (0.2 of 0.65 s for lesson 01's on a 2-core machine).  A live view draws many
    pictures of a few shapes (a run redrawn as it grows, each choice's run), so ``image(fig, growing=True)`` places
    ``fig``'s axes where the last laid-out picture of the same shape had them, without measuring again.  A shape
    is the figure's size and, per axes, its place in the grid, title and axis labels, and its suptitle's lines;
    a picture of a shape not seen yet is laid out.  A finished picture (``growing=False``) is always laid out, and
    its layout kept for the growing ones after it: a growing picture may place a tick label that grew a few pixels
    off, never the picture that stays."""

    def __init__(self):
        # shape -> each axes' place at the last picture of that shape laid out; an entry is replaced whole, for
        # the background thread and the kernel's may draw at once
        self._kept: dict = {}

    def image(self, fig: Figure, growing: bool = False) -> Image:
        shape = _shape(fig)
        places = self._kept.get(shape)
        if not growing or places is None:
            picture = as_image(fig)
            self._kept[shape] = [ax.get_position(original=True) for ax in fig.axes]
            return picture
        engine = fig.get_layout_engine()
        fig.set_layout_engine("none")
        try:
            for ax, place in zip(fig.axes, places):
                ax.set_position(place)
                ax.set_in_layout(True)  # set_position takes an axes out of later layouts
            return as_image(fig)
        finally:
            fig.set_layout_engine(engine)


def _shape(fig: Figure) -> tuple:
    """What a figure's constrained layout depends on, short of the text sizes it measures."""
    def lines(text: str) -> int:
        return text.count("\n") + 1 if text else 0

    axes = tuple((ax.get_subplotspec().get_geometry() if ax.get_subplotspec() else None, lines(ax.get_title()),
                  lines(ax.get_xlabel()), lines(ax.get_ylabel())) for ax in fig.axes)
    return tuple(fig.get_size_inches()), axes, lines(fig.get_suptitle())


def figure(width: float = 12, height: float = 3.4) -> Figure:
    """A new figure that is not shown until asked (``as_image``), so live views can redraw it in place."""
    return Figure(figsize=(width, height), layout="constrained")
