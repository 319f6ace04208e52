"""Lesson 03's figures: loss curves at a learning rate with its dead units, the sweep, the range test."""
from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...plots import draw_losses, epochs_of, figure, suptitle
from ...training import Run
from .range_test import RangeTest


def draw_run(run: Run, fig: Figure, dead_fraction: float, title: str = "") -> None:
    """Loss curves on a log scale, and the share of hidden relu units that died."""
    loss_ax, dead_ax = fig.subplots(1, 2, width_ratios=(3, 1))
    draw_losses(loss_ax, run)
    loss_ax.set_yscale("log")
    dead_ax.bar(["dead", "alive"], [dead_fraction, 1 - dead_fraction], color=["tab:red", "tab:green"])
    dead_ax.set(ylim=(0, 1), title=f"dead relu units: {dead_fraction:.0%}")
    if title:
        suptitle(fig, title)


def draw_sweep(ax, histories: dict[float, dict[str, list[float]]]) -> None:
    """The training loss per epoch at each learning rate (a run's ``history`` for each), on a log scale."""
    for rate, history in histories.items():
        ax.plot(epochs_of(history["loss"]), history["loss"], "-o", label=f"{rate:g}")
    ax.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss at each learning rate")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="Adam learning rate")


def sweep_figure(histories: dict[float, dict[str, list[float]]]) -> Figure:
    fig = figure(7, 4)
    draw_sweep(fig.subplots(), histories)
    return fig


def draw_range_test(ax, test: RangeTest) -> None:
    """Loss against learning rate (log scale) from a range test, with its suggestion."""
    ax.plot(test.learning_rates, test.losses, alpha=0.3, label="batch loss")
    ax.plot(test.learning_rates, test.smoothed, label="smoothed")
    ax.axvline(test.suggestion, color="tab:green", ls="--", label=f"suggestion {test.suggestion:.1e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="loss", title="learning-rate range test")
    ax.set_ylim(0, 3 * test.smoothed[0])  # the blow-up runs off the top
    ax.legend()


def range_test_figure(tests: dict[str, RangeTest]) -> Figure:
    """The range test of each head, side by side, titled with its suggestion."""
    fig = figure(12, 3.6)
    for ax, (task, test) in zip(fig.subplots(1, len(tests)), tests.items()):
        draw_range_test(ax, test)
        ax.set_title(f"{task}: suggests {test.suggestion:.1e}")
    return fig
