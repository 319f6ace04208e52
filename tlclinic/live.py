"""Live controls: a control whose every change shows the run of the chosen value, trained once and kept.

``Experiment`` is the plain model (value -> its run -> its picture) that tests drive directly; ``LiveView`` is
the thin ipywidgets view over it; ``Background`` trains the values a person may choose next while the kernel is
idle.  Nothing here waits for input, so notebooks run headless with the view in them.

A run is deterministic for its value and seed, so each value is trained once: choosing it again shows its kept
picture.  A value trained on the spot is redrawn epoch by epoch as its curves grow, its first picture after the
first few batches (``training.FirstPicture``).  Once a person's JupyterLab holds the control (its widget manager
answers a link that only a browser runs; a headless run never does), the other values train in a thread of their
own, one at a time and only while the kernel runs no cell and handles no change: a cell or a change to a value not
yet trained stops that training within a batch (a change to the very value under way lets it finish, drawn as it
grows from the next batch's end), and it goes on once the kernel is idle again; a change to a kept value is shown
at once and stops nothing.  It ends with the kernel.

The figure is not inside the widget: it is an ordinary image output beside it, updated in place at every change
(a display handle).  So a saved notebook, reopened, and the HTML report show the last picture, with a line saying
that it is live in JupyterLab, even where the widget itself cannot be shown.
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import math
import threading
import time
import weakref
from typing import Any, Callable

import ipywidgets as widgets
import keras
from IPython import get_ipython
from IPython.display import Image, Markdown, display
from matplotlib.figure import Figure

from . import plots
from .training import Run

IDLE_S = 0.5  # background training starts once the kernel has run no cell and handled no change for this long
REDRAW_EVERY_S = 0.5  # a run growing on screen is drawn after its first few batches, then at most this often,
DRAWING_AT_MOST = 1 / 3  # and never sooner than keeps its drawing to this share of the time: training the rest
# After a run's first picture is put on screen, its training waits this long: the Jupyter server and the browser
# that show it share the machine's cores with the kernel, and a whole model's next batches, on every core, would
# hold the picture back.
LET_IT_SHOW_S = 0.2
# What the status says a change did, by how its run was had (the browser driver and make bench read these):
DONE = {"on the spot": "retrained and redrawn", "trained in the background": "redrawn (trained in the background)",
        "revisit": "redrawn (a run kept from before)"}


class Interrupted(Exception):
    """Background training stopped so that the kernel can run a cell or a change."""


def key(value: Any):
    """A value as the key of its run: a float to 6 significant digits (a slider's value, whether the browser or
    Python computed its power of ten), a dict of flags as its sorted items."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


class Experiment:
    """The state behind a live control: the chosen value, its run, its figure, and every run trained so far.

    ``train(value, callbacks=(), on_epoch=None)`` trains a value's run, calling ``on_epoch`` (when given) with
    the run so far after each epoch; ``draw(run, figure, value)`` draws it."""

    def __init__(self, train: Callable[..., Run], draw: Callable[[Run, Figure, Any], None], value: Any,
                 figsize: tuple[float, float] = (12, 3.4), trained: Run | None = None):
        """``trained``: ``value``'s run, trained already as ``train`` would train it (the lesson's ``reproduce()``
        in a cell above): kept, not trained again."""
        self.train, self.draw, self.figsize = train, draw, figsize
        self._figure, self._drawn = plots.figure(*figsize), None  # the figure, and the run drawn on it
        self._layout = plots.KeptLayout()  # the layouts of the pictures drawn, for the growing ones after them
        self.runs: dict = {}  # key(value) -> its run
        self.pictures: dict = {}  # key(value) -> its run's picture
        self.value: Any = None
        self.run: Run | None = None
        self.trained_before = trained is not None  # the first value's run came trained
        if trained is not None:
            self._keep(value, trained, self._figure)
        self.set(value)

    @property
    def figure(self) -> Figure:
        """The chosen value's run, drawn (again, if a kept picture was shown since)."""
        if self._drawn is not self.run:
            self._draw(self._figure, self.run, self.value)
        return self._figure

    def kept(self, value: Any) -> bool:
        return key(value) in self.pictures

    def set(self, value: Any, show: Callable[[Image, Run], None] | None = None) -> Run:
        """Make ``value`` the chosen one: its kept run, or one trained now.  ``show(picture, run)`` gets the
        picture to put on screen: the kept one at once, or the growing run's after its first few batches and then
        at most every ``REDRAW_EVERY_S``, and the finished run's."""
        if self.kept(value):
            if show:
                show(self.pictures[key(value)], self.runs[key(value)])
            self.value, self.run = value, self.runs[key(value)]
            return self.run
        run = self.train(value, on_epoch=show and self._growing(value, show, self._figure))
        self.value, self.run = value, run
        self._keep(value, run, self._figure)
        if show:
            show(self.pictures[key(value)], run)
        return run

    def prepare(self, value: Any, callbacks=(), show: Callable[[Image, Run], None] | None = None,
                wanted: Callable[[], bool] = lambda: False) -> None:
        """Train ``value``'s run and draw its picture off screen, to keep (``callbacks`` go to its training).
        While ``wanted()``, ``show`` gets its growing picture as ``set`` would give it; from the batch after it
        comes to be wanted, the run as last seen (``_ShownWhenWanted``)."""
        if not self.kept(value):
            shown = show and _ShownWhenWanted(self._growing(value, show, plots.figure(*self.figsize)), wanted)
            run = self.train(value, [*callbacks, *([shown] if shown else [])], on_epoch=shown and shown.seen)
            self._keep(value, run, plots.figure(*self.figsize))

    def warm(self, value: Any) -> None:
        """Trace ``value``'s training and its first picture's outputs before anyone chooses it: it is trained up to
        its first picture (``training.FirstPicture``), which is thrown away.  For a ``train`` that keeps its
        compiled model by value (``training.CompiledHeads``), a first choice of ``value`` then starts training at
        once instead of building and tracing first (about 0.8 s of a head's first picture, 3.5 s of a whole
        model's, on a 2-core machine), its first picture's outputs come from a traced step, and its drawing is
        laid out already (``plots.KeptLayout``)."""
        if self.kept(value):
            return

        def drawn_then_stopped(run: Run) -> None:
            self._layout.image(self._draw(plots.figure(*self.figsize), run, value), growing=True)
            raise Interrupted()

        # Interrupted: stopped as asked.  Any other error is raised again, and shown, when the value is chosen.
        with contextlib.suppress(Exception):
            self.train(value, on_epoch=drawn_then_stopped)

    def _growing(self, value: Any, show: Callable[[Image, Run], None], figure: Figure) -> Callable[[Run], None]:
        """An ``on_epoch`` that draws ``value``'s growing run on ``figure`` and shows it the first time it is
        called (after the first few batches), then at most every ``REDRAW_EVERY_S``, and less often where a
        picture takes long to draw (a second or more on a slow machine), so that drawing takes at most
        ``DRAWING_AT_MOST`` of the time and the run itself is not held up by its pictures."""
        next_at = None

        def grown(run: Run) -> None:
            nonlocal next_at
            started = time.perf_counter()
            if next_at is None or started >= next_at:
                show(self._layout.image(self._draw(figure, run, value), growing=True), run)
                first, ended = next_at is None, time.perf_counter()
                next_at = ended + max(REDRAW_EVERY_S, (ended - started) * (1 - DRAWING_AT_MOST) / DRAWING_AT_MOST)
                if first:  # the wait is not drawing: the pace above is the drawing's alone
                    time.sleep(LET_IT_SHOW_S)

        return grown

    def _keep(self, value: Any, run: Run, figure: Figure) -> None:
        """Keep ``value``'s finished run and its picture, drawn on ``figure`` and laid out afresh."""
        self.runs[key(value)], self.pictures[key(value)] = run, self._layout.image(self._draw(figure, run, value))

    def _draw(self, figure: Figure, run: Run, value: Any) -> Figure:
        figure.clear()
        self.draw(run, figure, value)
        if figure is self._figure:
            self._drawn = run
        return figure


class _StopWhenAsked(keras.callbacks.Callback):
    """Raises ``Interrupted`` at the end of the next batch once ``asked`` is set."""

    def __init__(self, asked: threading.Event):
        super().__init__()
        self.asked = asked

    def _check(self, batch, logs=None) -> None:
        if self.asked.is_set():
            raise Interrupted()

    on_train_batch_end = on_test_batch_end = on_predict_batch_end = _check


class _ShownWhenWanted(keras.callbacks.Callback):
    """The growing pictures of a run trained in the background: each run so far (``seen``, the run's
    ``on_epoch``) is drawn by ``grown`` while ``wanted()``.  A change asks for it mid-epoch: at the end of the
    next batch, the run as last seen (its first few batches, or its last epoch) is drawn, rather than nothing
    until the epoch ends (seconds, for a whole model)."""

    def __init__(self, grown: Callable[[Run], None], wanted: Callable[[], bool]):
        super().__init__()
        self.grown, self.wanted = grown, wanted
        self.last: Run | None = None  # the run as last seen
        self.offered: Run | None = None  # the last run given to ``grown``

    def seen(self, run: Run) -> None:
        self.last = run
        self._offer()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._offer()

    def on_train_begin(self, logs=None) -> None:  # lesson 04 builds its second stage's model between two trainings
        self._offer()

    def _offer(self) -> None:
        if self.last is not None and self.last is not self.offered and self.wanted():
            self.offered = self.last
            self.grown(self.last)


class Background:
    """One thread that trains, one value at a time, what the watched views may be asked for next, while the
    kernel is idle: ``pause()`` (a cell starts, a change comes) stops the value under way within a batch and
    waits for it; ``resume()`` lets it go on after ``IDLE_S``.  In IPython it pauses before every cell and
    resumes after it; it stops for good when the process ends."""

    def __init__(self):
        self.views: list[weakref.ref] = []
        self._training = threading.Lock()  # held by whichever training runs, on screen or in the background
        self._idle = threading.Event()  # set while the kernel runs no cell and handles no change
        self._stop = threading.Event()  # the value under way is asked to stop
        self._idle_since = 0.0
        self._in_cell = False
        self._ended = False
        self._thread: threading.Thread | None = None
        self._under_way = None  # (view, key(value)) of the value the background is training now
        self.failed: dict = {}  # (view id, key(value)) -> the error its training raised; not tried again

    @property
    def started(self) -> bool:
        return self._thread is not None

    def watch(self, view: "LiveView") -> None:
        """Train ``view``'s other values in the background from now on, before those of the views watched earlier
        (a cell run again makes a new view, and the one on screen comes first)."""
        self.views = [weakref.ref(view)] + [ref for ref in self.views if ref() is not None and ref() is not view]
        if self._thread is None:
            if (shell := get_ipython()) is not None:
                shell.events.register("pre_run_cell", self._cell_starts)
                shell.events.register("post_run_cell", self._cell_ends)
            atexit.register(self.end)
            self._thread = threading.Thread(target=self._work, name="tlclinic-background", daemon=True)
            self._thread.start()
        self.resume()

    def pause(self) -> None:
        """Stop the training under way (at the end of its batch) and start none until ``resume()``."""
        self._idle.clear()
        self._stop.set()
        with self._training:
            self._stop.clear()

    def resume(self) -> None:
        if self.started and not self._in_cell and not self._ended:
            self._idle_since = time.monotonic()
            self._idle.set()

    @contextlib.contextmanager
    def foreground(self, view: "LiveView | None" = None, value: Any = None):
        """Train on screen: the background is paused for the block, and goes on after it.  If it is training
        ``view``'s ``value`` right now, that run is let finish (the view shows it growing) instead of begun again."""
        if self._under_way is not None and self._under_way == (view, key(value)):
            self._idle.clear()  # start nothing after it
        else:
            self.pause()
        try:
            with self._training:
                yield
        finally:
            self.resume()

    def end(self) -> None:
        self._ended = True
        self.pause()
        self._idle.set()  # wakes the thread, which sees the end
        if self._thread is not None:
            self._thread.join(timeout=5)

    def pending(self, view: "LiveView") -> list:
        """The values of ``view`` still to train, in the order they will be."""
        return [value for value in view.choices(view.experiment.value)
                if not view.experiment.kept(value) and (id(view), key(value)) not in self.failed]

    def _cell_starts(self, info=None) -> None:
        self._in_cell = True
        self.pause()

    def _cell_ends(self, result=None) -> None:
        self._in_cell = False
        self.resume()

    def _next(self):
        for ref in self.views:
            view = ref()
            if view is not None and (values := self.pending(view)):
                return view, values[0]
        return None

    def _work(self) -> None:
        stopper = _StopWhenAsked(self._stop)
        while True:
            self._idle.wait()
            if self._ended:
                return
            if (wait := self._idle_since + IDLE_S - time.monotonic()) > 0:
                time.sleep(wait)
                continue
            with self._training:
                if not self._idle.is_set() or self._ended:
                    continue
                job = self._next()
                if job is None:
                    self._idle.clear()  # nothing left: sleep until the next resume
                    continue
                view, value = job
                self._under_way = (view, key(value))
                try:
                    view.experiment.prepare(value, callbacks=[stopper], show=view._show,
                                            wanted=lambda: view.awaited == key(value))
                except Interrupted:
                    continue
                except Exception as error:  # noqa: BLE001 - a value that cannot train is shown failing when chosen
                    self.failed[(id(view), key(value))] = error
                finally:
                    self._under_way = None
                view.say()


BACKGROUND = Background()


def settle_garbage_collector() -> None:
    """Keep Python's full garbage collections out of the clicks.  Every so often the cyclic collector walks every
    object the process holds: with Keras and TensorFlow loaded, 450,000 objects and 0.2 s on a 2-core machine,
    spent inside whichever click or first picture it falls in.  Here the objects alive now (the libraries, the
    lesson's data, this view) are collected once and then frozen (``gc.freeze``): later collections walk only what
    is made after.  Each new view unfreezes them first, so what an earlier view held and no longer needs is freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class LiveView:
    """An ipywidgets control over an ``Experiment``: changing its value shows that value's run in place.

    ``control`` is one value widget, or a box of them with ``read()`` giving the experiment's value from them.
    ``choices(value)``: the other values, nearest first, that the background trains while ``value`` is shown."""

    def __init__(self, experiment: Experiment, control: widgets.Widget, read: Callable[[], Any] | None = None,
                 choices: Callable[[Any], list] = lambda value: []):
        self.experiment, self.control, self.choices = experiment, control, choices
        self.status = widgets.Label()
        self._picture = None  # the display handle of the figure, once shown in a notebook
        self._shown = {key(experiment.value)}  # the values whose run was on screen
        self.awaited = None  # key(value) of the change under way, until it is drawn
        self._probe = None
        if read is None:
            control.value = experiment.value
            read = lambda: control.value  # noqa: E731
        self._read = read
        for widget in getattr(control, "children", None) or [control]:
            widget.observe(self._changed, names="value")
        earlier = " earlier in this kernel" if experiment.trained_before else ""
        self._done = f"trained{earlier} in {experiment.run.seconds:.1f} s"
        self.say()
        self.widget = widgets.VBox([control, self.status])
        settle_garbage_collector()

    def say(self, done: str | None = None) -> None:
        """Put the status: what the last change did and how long it took, and how far the background is."""
        self._done = done or self._done
        watched = any(ref() is self for ref in BACKGROUND.views)
        total, left = len(self.choices(self.experiment.value)), len(BACKGROUND.pending(self)) if watched else 0
        self.status.value = self._done + (f"; {total - left} of {total} other choices ready"
                                          + (", the rest training in the background" if left else "")
                                          if watched and total else "")

    def _show(self, picture: Image, run: Run) -> None:
        if self._picture is not None:
            self._picture.update(picture)
        if not self.experiment.kept(self._read()):
            epochs = len(run.history["loss"])
            self.status.value = (f"training: the first {run.first_epoch_share:.0%} of epoch 1 drawn…"
                                 if run.first_epoch_share < 1 else
                                 f"training: {epochs} epoch{'s' if epochs > 1 else ''} drawn so far…")

    def _changed(self, change) -> None:
        start = time.perf_counter()
        value = self._read()
        kept = self.experiment.kept(value)  # else it trains now, or the background finishes it while we wait
        self.status.value = "redrawing…" if kept else "training…"  # never the last change's words by the new picture
        self.awaited = key(value)
        try:
            # nothing to train for a kept value: shown at once, the background's training left to go on
            with contextlib.nullcontext() if kept else BACKGROUND.foreground(self, value):
                self.experiment.set(value, show=self._show)
        except Exception as error:
            self.status.value = f"training failed: {type(error).__name__}: {error}"
            raise
        finally:
            self.awaited = None
        seconds = time.perf_counter() - start
        done = DONE["on the spot" if not kept else "revisit" if key(value) in self._shown else "trained in the background"]
        self._shown.add(key(value))
        self.say(f"{done} in {seconds:.2f} s")

    def picture(self) -> Image:
        """The picture of the chosen value's run, as the PNG image the notebook shows."""
        return self.experiment.pictures[key(self.experiment.value)]

    def _ipython_display_(self) -> None:
        display(self.widget)
        display(Markdown("*The picture of the last run. The control above is live in JupyterLab: change it, and the "
                         "run of your choice is drawn here, as it trains or at once if it was trained before.*"))
        self._picture = display(self.picture(), display_id=True)
        self._wait_for_browser()

    def _wait_for_browser(self) -> None:
        """Train the other choices in the background once a browser holds this control.  A link made in the
        browser copies ``True`` into a second checkbox, and the browser sends that change back; a headless run
        has no widget manager to do so, and never trains in the background."""
        source, target = widgets.Checkbox(value=True), widgets.Checkbox(value=False)
        target.observe(lambda change: BACKGROUND.watch(self) if change["new"] else None, names="value")
        self._probe = (source, target, widgets.jsdlink((source, "value"), (target, "value")))


def toggle(options: list[str], value: str, train: Callable[..., Run],
           draw: Callable[[Run, Figure, str], None], description: str = "", warm: bool = False,
           trained: Run | None = None) -> LiveView:
    """A row of toggle buttons, one per option, each showing ``train(option)``'s run; the others train in the
    background.  ``warm``: every other option's training is traced now (``Experiment.warm``), before the first
    click, for a ``train`` that keeps its compiled models by option.  ``trained``: ``value``'s run, trained
    already (``Experiment``)."""
    control = widgets.ToggleButtons(options=options, value=value, description=description,
                                    style={"button_width": "auto"})
    experiment = Experiment(train, draw, value, trained=trained)
    for option in options if warm else ():
        experiment.warm(option)
    return LiveView(experiment, control, choices=lambda chosen: [option for option in options if option != chosen])


def checkboxes(labels: dict[str, str], value: dict[str, bool], train: Callable[..., Run],
               draw: Callable[[Run, Figure, dict[str, bool]], None], warm: tuple[str, ...] = ()) -> LiveView:
    """One checkbox per flag (``labels``: flag -> its label); any change shows ``train({flag: on})``'s run, growing
    epoch by epoch.  The background trains each combination one click away.  ``warm``: the flags whose
    combinations one click away are traced now (``Experiment.warm``), before the first click."""
    boxes = {flag: widgets.Checkbox(value=value[flag], description=label, indent=False,
                                    layout=widgets.Layout(width="auto"))
             for flag, label in labels.items()}
    control = widgets.VBox(list(boxes.values()))
    experiment = Experiment(train, draw, dict(value), figsize=(12, 3.6))
    for flag in warm:
        experiment.warm({**value, flag: not value[flag]})
    return LiveView(experiment, control,
                    read=lambda: {flag: box.value for flag, box in boxes.items()},
                    choices=lambda chosen: [{**chosen, flag: not on} for flag, on in chosen.items()])


def log_slider(low: int, high: int, value: float, train: Callable[..., Run],
               draw: Callable[[Run, Figure, float], None], description: str = "", step: float = 0.25,
               nearest_kept: int = 8) -> LiveView:
    """A slider over 10**low .. 10**high on a log scale; releasing it shows ``train(value)``'s run.  The background
    trains the ``nearest_kept`` stops nearest the chosen value, nearest first: each kept run holds its model (about
    24 MB for lesson 03's classifier, measured over its 20 other stops), so a kernel does not keep them all."""
    control = widgets.FloatLogSlider(value=value, base=10, min=low, max=high, step=step, description=description,
                                     continuous_update=False, readout_format=".1e", style={"description_width": "auto"},
                                     layout=widgets.Layout(width="36em"))  # about 7 em a decade, five decades
    stops = [10 ** (low + i * step) for i in range(round((high - low) / step) + 1)]

    def nearest(chosen: float) -> list[float]:
        return sorted((stop for stop in stops if key(stop) != key(chosen)),
                      key=lambda stop: abs(math.log10(stop) - math.log10(chosen)))[:nearest_kept]

    return LiveView(Experiment(train, draw, value), control, choices=nearest)
