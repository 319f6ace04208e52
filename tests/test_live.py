"""The live view in a notebook: its picture is an image output of its own, redrawn in place at every change, so a
saved notebook and the HTML report show the last picture even where the widget cannot be shown."""
import base64
import hashlib
import threading
import time
from unittest import mock

import nbformat
import numpy as np
import pytest

from tlclinic import live
from tlclinic.notebooks import execute
from tlclinic.training import Run

VIEW = '''
import numpy as np
from tlclinic.live import toggle
from tlclinic.training import Run

def train(value, callbacks=(), on_epoch=None):
    return Run(None, {"loss": [1.0, 0.5 if value == "a" else 0.9]}, [], np.zeros(1), 0.01)

def draw(run, fig, value):
    fig.subplots().plot(run.history["loss"])
    fig.suptitle(value)

view = toggle(["a", "b"], "a", train, draw)
view
'''


@pytest.mark.e2e
def test_a_live_cell_leaves_a_picture_and_says_it_is_live_and_a_change_redraws_that_picture(tmp_path):
    path = tmp_path / "live.ipynb"
    path.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        VIEW, "import hashlib\nfor _ in range(2): print(hashlib.sha256(view.picture().data).hexdigest())", "view.control.value = 'b'",
        "import threading, time\ntime.sleep(1)\nprint(sorted(thread.name for thread in threading.enumerate()))")])))
    nb = execute(path)
    widget, caption, picture = nb.cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" in widget["data"]
    assert "live in JupyterLab" in caption["data"]["text/markdown"]
    first, again = nb.cells[1].outputs[0]["text"].split()  # the picture for "a", before the change, drawn twice
    assert first == again  # drawing is deterministic, so a picture that was not redrawn would compare equal
    now = hashlib.sha256(base64.b64decode(picture["data"]["image/png"])).hexdigest()
    assert now != first  # the same output, redrawn in place for "b"
    assert "tlclinic-background" not in nb.cells[3].outputs[0]["text"]  # headless: no browser, no background training


# ---- the run of each value, kept; the background --------------------------------------------------------------

class Batches:
    """A stand-in for training: ``train(value, callbacks)`` runs ``batches`` batches of ``seconds`` each, calling
    each callback's batch hook as Keras does, and records in which thread each value was trained."""

    def __init__(self, batches: int = 5, seconds: float = 0.01):
        self.batches, self.seconds, self.trained, self.started, self.batches_run = batches, seconds, [], [], {}

    def __call__(self, value, callbacks=(), on_epoch=None):
        self.started.append(value)
        for batch in range(self.batches):
            time.sleep(self.seconds)
            self.batches_run[live.key(value)] = batch + 1
            for callback in callbacks:
                callback.on_train_batch_end(batch)
        run = Run(None, {"loss": [1.0, 0.5 if value == "a" else 0.9]}, [], np.zeros(1), 0.01)
        if on_epoch:
            on_epoch(Run(None, {"loss": run.history["loss"][:1]}, [], np.zeros(1), 0.01))
        self.trained.append((value, threading.current_thread().name))
        return run


def draw_loss(run, fig, value):
    fig.subplots().plot(run.history["loss"])
    fig.suptitle(value)


class Handle:
    """A display handle that records the pictures put in it."""

    def __init__(self):
        self.pictures = []

    def update(self, picture):
        self.pictures.append(picture)


@pytest.fixture
def background(monkeypatch):
    """A fresh background thread for the test, ended after it."""
    fresh = live.Background()
    monkeypatch.setattr(live, "BACKGROUND", fresh)
    monkeypatch.setattr(live, "IDLE_S", 0.05)
    yield fresh
    fresh.end()


def wait_for(condition, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_value_is_trained_once_and_a_revisit_shows_its_kept_picture():
    train = Batches()
    view = live.toggle(["a", "b"], "a", train, draw_loss)
    view._picture = handle = Handle()
    view.control.value = "b"
    assert view.status.value.startswith("retrained and redrawn in")
    first_b = view.experiment.run
    view.control.value = "a"
    assert view.status.value.startswith("redrawn (a run kept from before) in")
    view.control.value = "b"
    assert view.experiment.run is first_b and [value for value, _ in train.trained] == ["a", "b"]
    assert handle.pictures[-1] is view.experiment.pictures[live.key("b")]
    assert view.experiment.figure.get_suptitle() == "b"  # the figure follows the chosen value, kept or not


def test_a_first_value_trained_already_is_kept_not_trained_again_and_the_status_says_when_it_was():
    train, earlier = Batches(), Run(None, {"loss": [1.0, 0.7]}, [], np.zeros(1), 3.25)
    view = live.toggle(["a", "b"], "a", train, draw_loss, trained=earlier)
    assert view.experiment.run is earlier and train.started == []
    assert view.status.value == "trained earlier in this kernel in 3.2 s"
    view._picture = Handle()
    view.control.value = "b"
    view.control.value = "a"
    assert view.experiment.run is earlier and train.started == ["b"]


def test_a_new_value_is_shown_after_its_first_epoch_then_finished():
    view = live.toggle(["a", "b"], "a", Batches(), draw_loss)
    view._picture = handle = Handle()
    view.control.value = "b"
    growing, finished = handle.pictures
    assert growing.data != finished.data  # one epoch drawn, then both
    assert finished is view.picture()


def test_a_growing_run_is_redrawn_at_most_every_half_second_and_less_often_where_drawing_is_slow(monkeypatch):
    """On a clock that only training and drawing move, 20 epochs of 1/8 s each: a picture that takes 1/16 s to
    draw is shown every half second of training (every 4 epochs), one that takes 1 s after 2 s of training
    (drawing a third of the time); then the finished run."""
    now = [0.0]
    monkeypatch.setattr(live.time, "perf_counter", lambda: now[0])

    def train(value, callbacks=(), on_epoch=None):
        for epoch in range(1, 21):
            now[0] += 0.125
            if on_epoch:
                on_epoch(Run(None, {"loss": [1.0] * epoch}, [], np.zeros(1), 0.0))
        return Run(None, {"loss": [1.0] * 20}, [], np.zeros(1), 0.0)

    for seconds, epochs_shown in ((0.0625, [1, 5, 9, 13, 17, 20]), (1.0, [1, 17, 20])):
        def draw(run, fig, value):
            now[0] += seconds
            draw_loss(run, fig, value)

        shown = []
        live.Experiment(train, draw, "a").set("b", lambda picture, run: shown.append(len(run.history["loss"])))
        assert shown == epochs_shown, (seconds, shown)


def test_a_growing_picture_takes_the_layout_of_the_last_picture_of_its_shape_and_a_finished_one_is_laid_out_afresh():
    """Two axes side by side, then the same with tick labels far wider on the left one: drawn as a growing
    picture, its axes stay where the first picture's layout put them; finished, it is laid out again (the left
    axes move right to make room).  A picture of a shape not seen yet (a title on two lines) is laid out, and the
    first shape's layout is still kept after it."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from tlclinic import plots

    def drawn(top: float, title: str = "a"):
        fig = plots.figure(8, 3)
        left, right = fig.subplots(1, 2)
        left.plot([0, 1], [0, top])
        right.plot([0, 1], [0, 1])
        left.set(ylabel="loss", title="the loss")
        fig.suptitle(title)
        return fig

    def places(fig):
        return [tuple(np.round(ax.get_position().bounds, 6)) for ax in fig.axes]

    layout, first = plots.KeptLayout(), drawn(1.0)
    layout.image(first)
    wide = drawn(12345.0)
    layout.image(wide, growing=True)
    assert places(wide) == places(first)
    assert isinstance(wide.get_layout_engine(), ConstrainedLayoutEngine)
    layout.image(wide)
    assert places(wide)[0][0] > places(first)[0][0] + 0.01  # room for the wider labels
    other = drawn(1.0, title="a\nb")
    layout.image(other, growing=True)
    assert places(other) != places(wide)
    again = drawn(1.0)  # a picture of the first shape: its layout was kept beside the other shape's
    layout.image(again, growing=True)
    assert places(again) == places(wide)


def test_a_picture_drawn_once_has_the_pixels_savefig_gives():
    """``plots.as_image`` draws a figure once with Agg, where ``savefig`` draws one with a layout engine twice."""
    import io

    from PIL import Image as PILImage

    from tlclinic import plots

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(PILImage.open(io.BytesIO(png)).convert("RGBA"))

    fig = plots.figure(8, 3)
    left, right = fig.subplots(1, 2)
    left.plot([0, 1, 2], [3, 1, 2], "-o", label="loss")
    left.legend()
    right.hist(np.linspace(0, 1, 50), bins=10)
    fig.suptitle("a title")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    drawn = plots.as_image(fig, dpi=80).data
    assert pixels(drawn).shape == (240, 640, 4)
    np.testing.assert_array_equal(pixels(drawn), pixels(buffer.getvalue()))
    assert fig.dpi == 100  # the figure's own dpi, as it was


def test_a_new_view_collects_once_then_keeps_the_objects_alive_out_of_later_collections():
    """``settle_garbage_collector``: what is alive when a view is made is frozen out of the collector's way, and
    what an earlier view held, once unreachable, is freed when the next view is made."""
    import gc
    import weakref

    class Held:
        pass

    try:
        held = Held()
        held.cycle = held  # only the cyclic collector frees it
        gone = weakref.ref(held)
        first = live.toggle(["a", "b"], "a", lambda value, callbacks=(), on_epoch=None: Run(
            None, {"loss": [1.0, 0.5]}, [], np.zeros(1), 0.01), draw_loss)
        assert gc.get_freeze_count() > 0 and gone() is not None
        del held
        gc.collect()
        assert gone() is not None  # frozen: the collector does not look at it
        live.toggle(["a", "b"], "b", first.experiment.train, draw_loss)
        assert gone() is None
    finally:
        gc.unfreeze()


def test_a_warmed_toggle_trains_each_other_option_up_to_its_first_picture_and_keeps_no_run_of_it():
    """``warm=True``: before the first click, each other option trains up to its first picture, which is drawn
    off screen and thrown away (its training and its outputs traced, and its picture's layout kept, for a
    ``train`` that keeps its compiled models); a click then trains it whole."""
    seen, finished, drawn = [], [], []

    def train(value, callbacks=(), on_epoch=None):
        seen.append(value)
        if on_epoch:  # its first picture, as ``training.FirstPicture`` gives it
            on_epoch(Run(None, {"loss": [1.0]}, [], np.zeros(1), 0.01, first_epoch_share=0.1))
        finished.append(value)
        return Run(None, {"loss": [1.0, 0.5]}, [], np.zeros(1), 0.01)

    def draw(run, fig, value):
        drawn.append((value, run.first_epoch_share))
        draw_loss(run, fig, value)

    view = live.toggle(["a", "b", "c"], "a", train, draw, warm=True)
    assert seen == ["a", "b", "c"] and finished == ["a"] and drawn == [("a", 1.0), ("b", 0.1), ("c", 0.1)]
    assert not view.experiment.kept("b") and not view.experiment.kept("c")
    view._picture = Handle()
    view.control.value = "b"
    assert seen == ["a", "b", "c", "b"] and finished == ["a", "b"] and view.experiment.kept("b")

    def fails(value, callbacks=(), on_epoch=None):  # an option that cannot train fails when chosen, not before
        if value == "b":
            raise ValueError("cannot train b")
        return train(value, callbacks, on_epoch)

    view = live.toggle(["a", "b"], "a", fails, draw_loss, warm=True)
    with pytest.raises(ValueError):
        view.control.value = "b"
    assert "training failed: ValueError: cannot train b" in view.status.value


@pytest.mark.backend_code
def test_a_head_traced_before_the_first_click_trains_the_run_a_fresh_head_gives(short_runs):
    """Lesson 01's toggle keeps one compiled head per output layer, traced before the first click: the run a
    click then trains is the run a new head gives."""
    from tlclinic.lessons import softmax_one_unit as lesson01

    short_runs(lesson01)
    view = lesson01.live()
    output = list(lesson01.OUTPUTS)[1]
    view.control.value = output
    fresh = lesson01.train(lesson01.classifier(output))
    np.testing.assert_allclose(view.experiment.run.history["loss"], fresh.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(view.experiment.run.final_predictions, fresh.final_predictions, atol=1e-5)


def test_nothing_trains_in_the_background_until_a_browser_holds_the_control(background):
    train = Batches()
    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    time.sleep(0.3)
    assert not background.started and train.trained == [("a", "MainThread")]
    probe_target = None
    with mock.patch.object(live, "display"):
        view._ipython_display_()
        source, probe_target, link = view._probe
    assert link.source == (source, "value") and link.target == (probe_target, "value")
    probe_target.value = True  # what the browser's widget manager sends once it holds the link
    wait_for(lambda: not background.pending(view))
    assert sorted(train.trained[1:]) == [("b", "tlclinic-background"), ("c", "tlclinic-background")]
    assert view.status.value.endswith("; 2 of 2 other choices ready")
    view.control.value = "c"
    assert view.status.value.startswith("redrawn (trained in the background) in")
    assert len(train.trained) == 3  # nothing trained again


def test_a_cell_or_a_change_stops_background_training_within_a_batch_and_it_goes_on_after(background):
    train = Batches(batches=200, seconds=0.01)  # 2 s a value
    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    background.watch(view)
    wait_for(lambda: "b" in train.started)
    background._cell_starts()
    assert not train.trained[1:] and train.batches_run["b"] < 200  # stopped within its run, not at its end
    started = len(train.started)
    time.sleep(0.3)
    assert len(train.started) == started and not train.trained[1:]  # nothing runs while a cell does
    background._cell_ends()
    wait_for(lambda: not background.pending(view))
    assert [value for value, _ in train.trained[1:]] == ["b", "c"]  # "b" from the start again, whole


def test_a_change_to_the_value_the_background_is_training_lets_it_finish_and_shows_it_growing(background):
    train = Batches(batches=100, seconds=0.01)
    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    view._picture = handle = Handle()
    background.watch(view)
    wait_for(lambda: "b" in train.started)
    view.control.value = "b"
    assert train.started.count("b") == 1 and ("b", "tlclinic-background") in train.trained  # finished, not begun again
    assert len(handle.pictures) == 2  # its growing picture, drawn in the background, then the finished one
    assert view.status.value.startswith("retrained and redrawn in")  # the person waited for its training


class Epochs(Batches):
    """``Batches`` over ``epochs`` epochs: ``on_epoch`` gets the run so far at each epoch's end."""

    def __init__(self, epochs: int, batches: int, seconds: float):
        super().__init__(batches * epochs, seconds)
        self.epochs = epochs

    def __call__(self, value, callbacks=(), on_epoch=None):
        per_epoch = self.batches // self.epochs

        class EpochEnds:
            def on_train_batch_end(self, batch, logs=None):
                if on_epoch and (batch + 1) % per_epoch == 0:
                    on_epoch(Run(None, {"loss": [1.0] * ((batch + 1) // per_epoch)}, [], np.zeros(1), 0.01))

        return super().__call__(value, [*callbacks, EpochEnds()])


def test_a_change_to_the_value_the_background_is_training_mid_epoch_shows_its_last_epoch_within_a_batch(background):
    """Lesson 04's epoch takes seconds: a change that comes mid-epoch to the value the background trains draws the
    run as last seen (its last finished epoch) at the end of the next batch, not when the epoch ends."""
    train = Epochs(epochs=3, batches=40, seconds=0.01)
    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    shown = []  # (the batches "b" had run, the epochs the picture shows) at each picture put on screen

    class Recording(Handle):
        def update(self, picture):
            shown.append((train.batches_run.get("b", 0), view.experiment.runs.get(live.key("b"))))

    view._picture = Recording()
    background.watch(view)
    wait_for(lambda: train.batches_run.get("b", 0) > 45)  # in its second epoch
    asked_at = train.batches_run["b"]
    view.control.value = "b"
    growing = [batches for batches, finished in shown if finished is None]
    assert growing and growing[0] < 80  # drawn before the second epoch ended
    assert growing[0] - asked_at <= 5  # at the end of the batch under way when asked (a loaded machine: a few)
    assert shown[-1][1] is not None  # then the finished run


def test_a_change_to_a_kept_value_is_shown_at_once_and_leaves_the_background_training(background):
    """Lesson 04 trains a combination for 10 s or more, a batch at a time: a kept combination is drawn without
    stopping that training, and without waiting for a batch to end."""
    train = Batches(batches=4, seconds=0.5)  # 2 s a value
    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    view._picture = handle = Handle()
    background.watch(view)
    wait_for(lambda: "c" in train.started)  # "b" is kept, "c" under way
    view.control.value = "b"
    assert handle.pictures[-1] is view.experiment.pictures[live.key("b")]
    assert view.status.value.startswith("redrawn (trained in the background) in")
    assert train.batches_run.get("c", 0) < 4  # shown while "c" was still training
    wait_for(lambda: not background.pending(view))
    assert train.started.count("c") == 1  # not stopped and begun again


def test_a_value_that_fails_in_the_background_is_not_tried_again_and_fails_when_chosen(background):
    def train(value, callbacks=(), on_epoch=None):
        if value == "b":
            raise ValueError("b cannot train")
        return Batches()(value, callbacks, on_epoch)

    view = live.toggle(["a", "b", "c"], "a", train, draw_loss)
    background.watch(view)
    wait_for(lambda: not background.pending(view))
    assert list(background.failed.values())[0].args == ("b cannot train",)
    assert view.experiment.kept("c") and not view.experiment.kept("b")
    with pytest.raises(ValueError, match="b cannot train"):
        view.control.value = "b"
    assert view.status.value == "training failed: ValueError: b cannot train"


def test_the_slider_trains_its_nearest_stops_first_and_a_browser_value_finds_python_s_run():
    view = live.log_slider(-5, 0, 0.1, Batches(batches=1), draw_loss)
    nearest = view.choices(0.1)
    assert len(nearest) == 8 and nearest[:2] == pytest.approx([10 ** -1.25, 10 ** -0.75])
    assert max(nearest) == pytest.approx(1.0) and min(nearest) == pytest.approx(10 ** -2)  # a decade either side
    assert live.key(10 ** -2.75) == live.key(10 ** -2.75 * (1 + 1e-12))  # the browser's power of ten may differ in its last bits
    view.experiment.prepare(10 ** -2.75)
    assert view.experiment.kept(10 ** -2.75 * (1 + 1e-12))


def test_the_checkboxes_train_each_combination_one_click_away():
    view = live.checkboxes({"x": "x", "y": "y"}, {"x": True, "y": False}, Batches(batches=1),
                           lambda run, fig, flags: draw_loss(run, fig, str(flags)))
    assert view.choices({"x": True, "y": False}) == [{"x": False, "y": False}, {"x": True, "y": True}]
    assert live.key({"y": False, "x": True}) == live.key({"x": True, "y": False})


@pytest.mark.backend_code
def test_a_run_trained_in_the_background_is_the_run_trained_on_screen(background, short_runs):
    """Keras keeps its seed state per thread: the background's run of a value must be the one a click trains."""
    from tlclinic.lessons import softmax_one_unit as lesson01

    short_runs(lesson01)
    on_screen = lesson01.live()
    in_background = lesson01.live()
    output = list(lesson01.OUTPUTS)[1]
    background.watch(in_background)
    wait_for(lambda: in_background.experiment.kept(output) or background.failed, seconds=120)
    assert not background.failed  # its training, with the background's own callbacks, raised nothing
    background.end()
    on_screen.control.value = output
    kept, fresh = in_background.experiment.runs[live.key(output)], on_screen.experiment.run
    np.testing.assert_allclose(kept.history["loss"], fresh.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(kept.final_predictions, fresh.final_predictions, atol=1e-5)


@pytest.mark.parametrize("side_by_side", [False, True], ids=["lesson 04's live picture", "one side of a pair"])
def test_a_title_as_long_as_lesson_04s_wraps_and_stays_inside_its_picture(side_by_side):
    """Lesson 04's live title with every bug ticked, drawn by its figure on the live view's canvas (12 x 3.6 in) and
    on one half of a side-by-side figure: each line lies within the picture, and no word is lost."""
    from tlclinic import plots
    from tlclinic.lessons import whole_program as lesson04
    from tlclinic.lessons.whole_program.figures import draw_run
    from tlclinic.lessons.whole_program.pipeline import PipelineRun

    title = "bugs on: " + ", ".join(lesson04.BUG_LABELS.values())
    run = PipelineRun(model=None, history={"loss": [1.0] * 4}, val_predictions=[np.full(4, 0.5)] * 4,
                      val_targets=np.array([0.0, 1.0, 0.0, 1.0]), seconds=1.0)
    fig = plots.figure(12, 3.6) if not side_by_side else plots.figure(14, 3.6)
    canvas = fig.subfigures(1, 2)[1] if side_by_side else fig
    draw_run(run, canvas, title=title, criteria=lesson04.criteria(run))
    fig.draw_without_rendering()
    [text] = [t for t in canvas.texts if t.get_text().startswith("bugs on:")]
    box, edges = text.get_window_extent(), canvas.bbox
    assert edges.x0 <= box.x0 and box.x1 <= edges.x1 and edges.y0 <= box.y0 and box.y1 <= edges.y1, (box, edges)
    assert " ".join(text.get_text().split()) == title and text.get_text().count("\n") >= 1
