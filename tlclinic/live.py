"""Live toggles: a control whose every change retrains a head and redraws its figure.

``Experiment`` is the plain model (value -> trained run -> drawn figure) that
tests drive directly; ``LiveView`` is the thin ipywidgets view over it.  Nothing
here waits for input, so notebooks run headless with the view in them.

The figure is not inside the widget: it is an ordinary image output beside it, updated in place at every change
(a display handle).  So a saved notebook, reopened, and the HTML report show the last picture, with a line saying
that it is live in JupyterLab, even where the widget itself cannot be shown.
"""
from __future__ import annotations

import time
import weakref
from typing import Any, Callable

import ipywidgets as widgets
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from . import plots
from .training import Run


class Experiment:
    """The state behind a live control: the chosen value, its trained run and its figure."""

    def __init__(self, train: Callable[[Any], Run], draw: Callable[[Run, Figure, Any], None], value: Any,
                 figsize: tuple[float, float] = (12, 3.4)):
        self.train, self.draw = train, draw
        self.figure = plots.figure(*figsize)
        self.value: Any = None
        self.run: Run | None = None
        self.set(value)

    def set(self, value: Any) -> Run:
        """Retrain for ``value`` and redraw the figure."""
        self.value = value
        self.run = self.train(value)
        self.figure.clear()
        self.draw(self.run, self.figure, value)
        return self.run


class LiveView:
    """An ipywidgets control over an ``Experiment``: changing its value retrains and redraws in place.

    ``control`` is one value widget, or a box of them with ``read()`` giving the experiment's value from them."""

    def __init__(self, experiment: Experiment, control: widgets.Widget, read: Callable[[], Any] | None = None):
        self.experiment, self.control = experiment, control
        self.status = widgets.Label()
        self._picture = None  # the display handle of the figure, once shown in a notebook
        # The runs drawn so far, by identity (a run met again was kept, not retrained); weak, so that a run no one
        # keeps is forgotten with it and its id cannot be mistaken for a new run's.
        self._shown = [weakref.ref(experiment.run)]
        if read is None:
            control.value = experiment.value
            read = lambda: control.value  # noqa: E731
        self._read = read
        for widget in getattr(control, "children", None) or [control]:
            widget.observe(self._changed, names="value")
        self.status.value = f"trained in {experiment.run.seconds:.1f} s"
        self.widget = widgets.VBox([control, self.status])

    def _changed(self, change) -> None:
        start = time.perf_counter()
        self.status.value = "training…"
        run = self.experiment.set(self._read())
        if self._picture is not None:
            self._picture.update(self.picture())
        kept = any(shown() is run for shown in self._shown)
        self._shown = [shown for shown in self._shown if shown() is not None] + ([] if kept else [weakref.ref(run)])
        done = "redrawn (a run kept from before)" if kept else "retrained and redrawn"
        self.status.value = f"{done} in {time.perf_counter() - start:.1f} s"

    def picture(self):
        """The figure of the current run, as the PNG image the notebook shows."""
        return plots.as_image(self.experiment.figure)

    def _ipython_display_(self) -> None:
        display(self.widget)
        display(Markdown("*The picture of the last run. The control above is live in JupyterLab: change it, and it "
                         "retrains and redraws here.*"))
        self._picture = display(self.picture(), display_id=True)


def toggle(options: list[str], value: str, train: Callable[[str], Run],
           draw: Callable[[Run, Figure, str], None], description: str = "") -> LiveView:
    """A row of toggle buttons, one per option, each retraining with ``train(option)``."""
    control = widgets.ToggleButtons(options=options, value=value, description=description,
                                    style={"button_width": "auto"})
    return LiveView(Experiment(train, draw, value), control)


def checkboxes(labels: dict[str, str], value: dict[str, bool], train: Callable[[dict[str, bool]], Run],
               draw: Callable[[Run, Figure, dict[str, bool]], None]) -> LiveView:
    """One checkbox per flag (``labels``: flag -> its label); any change retrains with ``train({flag: on})``."""
    boxes = {flag: widgets.Checkbox(value=value[flag], description=label, indent=False,
                                    layout=widgets.Layout(width="auto"))
             for flag, label in labels.items()}
    control = widgets.VBox(list(boxes.values()))
    return LiveView(Experiment(train, draw, dict(value), figsize=(12, 3.6)), control,
                    read=lambda: {flag: box.value for flag, box in boxes.items()})


def log_slider(low: int, high: int, value: float, train: Callable[[float], Run],
               draw: Callable[[Run, Figure, float], None], description: str = "") -> LiveView:
    """A slider over 10**low .. 10**high on a log scale; releasing it retrains with ``train(value)``."""
    control = widgets.FloatLogSlider(value=value, base=10, min=low, max=high, step=0.25, description=description,
                                     continuous_update=False, readout_format=".1e", style={"description_width": "auto"},
                                     layout=widgets.Layout(width="36em"))  # about 7 em a decade, five decades
    return LiveView(Experiment(train, draw, value), control)
