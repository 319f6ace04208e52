"""The live controls in a real browser: JupyterLab and the distribution's Chromium, driven by Playwright as a person
would (tlclinic/browser.py).  Each test opens a lesson's student notebook, runs all its cells, clicks its control
and reads what the page shows.  Timings are `make bench`'s; here only what a person sees is asserted: among it, no
cell shows a stderr stream (TensorFlow's native log; the kernel has no TF_CPP_MIN_LOG_LEVEL from the test) and no
notification covers the notebook (JupyterLab's news toast: the driver's JupyterLab has `make lab`'s settings)."""
import pytest

from tlclinic import browser
from tlclinic.lessons import discover, release_notebook
from tlclinic.lessons import learning_rate as lesson03
from tlclinic.lessons import softmax_one_unit as lesson01
from tlclinic.lessons import whole_program as lesson04
from tlclinic.notebooks import cells

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]


def assert_shown_as_a_person_expects(session, notebook):
    """No widget error, no stderr stream, no notification; and Run All stopped only where the untouched release
    fails its exercise's visible check, with the AssertionError that says why (a notebook without one: nowhere).
    Where Chromium is installed these runs are the releases' run top to bottom (tests/test_notebooks.py leaves
    them to this file)."""
    has_check = any(cell.metadata.get("nbgrader", {}).get("grade_id") == "self_check" for cell in cells(notebook))
    assert session.widget_errors == 0 and session.stderr == [] and session.toasts == [], session
    assert session.errors == ([("self_check", "AssertionError")] if has_check else []), session


@pytest.fixture(autouse=True)
def needs_a_browser():
    if why := browser.missing():
        pytest.skip(f"the browser test cannot run here: {why}")


def test_lesson01_trains_the_other_outputs_in_the_background_and_every_click_shows_its_own_picture():
    choices = list(lesson01.BROWSER_CHOICES)  # both fixes, then the question's output
    assert set(choices) == set(lesson01.OUTPUTS) and choices[-1] == lesson01.BROKEN
    notebook = release_notebook(lesson01.NAME)
    session = browser.drive(notebook, choices, ready_first=True, timeout_s=300)
    assert_shown_as_a_person_expects(session, notebook)
    statuses = [flip.status for flip in session.flips]
    # The browser's widget manager started the background; by the first click it had trained both other outputs.
    assert all(status.startswith("redrawn (trained in the background) in") for status in statuses[:2]), statuses
    assert statuses[2].startswith("redrawn (a run kept from before) in"), statuses
    assert all(status.endswith("; 2 of 2 other choices ready") for status in statuses), statuses
    assert len(session.pictures) == 3  # one picture per output, each put on the page by its click


def test_lesson03_slider_trains_a_new_rate_epoch_by_epoch_and_a_revisit_is_its_kept_picture():
    rates = [1e-3, lesson03.QUESTION_LEARNING_RATE, 1e-2]
    notebook = release_notebook(lesson03.NAME)
    session = browser.drive(notebook, rates, timeout_s=300)
    assert_shown_as_a_person_expects(session, notebook)
    first, back, third = session.flips
    assert first.status.startswith(("retrained and redrawn in", "redrawn (trained in the background) in")), first
    if first.retrained:  # trained on the spot: its curves were drawn as they grew, before the finished picture
        assert first.first_figure_s < first.final_figure_s, first
    assert back.status.startswith("redrawn (a run kept from before) in"), back
    assert third.status.startswith(("retrained and redrawn in", "redrawn (trained in the background) in")), third
    assert len(session.pictures) >= 3


def test_lesson04_draws_a_new_combination_epoch_by_epoch_and_ticking_its_box_again_is_a_revisit():
    label = lesson04.BUG_LABELS["rescale_255"]
    notebook = release_notebook(lesson04.NAME)
    session = browser.drive(notebook, [label, label], timeout_s=300)
    assert_shown_as_a_person_expects(session, notebook)
    new, back = session.flips
    assert new.status.startswith(("retrained and redrawn in", "redrawn (trained in the background) in")), new
    if new.retrained:  # its four epochs drawn as they came, before the finished picture with every criterion
        assert new.first_figure_s < new.final_figure_s, new
    assert back.status.startswith("redrawn (a run kept from before) in"), back
    assert len(session.pictures) >= 2


CLICKED = {lesson01.NAME, lesson03.NAME, lesson04.NAME}  # the tests above run these and read their cells too


@pytest.mark.parametrize("notebook", [release_notebook(name) for name in discover() if name not in CLICKED],
                         ids=lambda path: path.stem)
def test_run_all_shows_no_stderr_no_notification_and_no_widget_error(notebook):
    """Every other lesson's student notebook, as a person opens it in `make lab` and runs all its cells (up to the
    check the untouched release fails, which shows its traceback as an error, not a stderr stream).  The notebook
    without a lesson (00) has no widget: tests/test_notebooks.py runs it headless."""
    session = browser.drive(notebook, [], timeout_s=300)
    assert_shown_as_a_person_expects(session, notebook)
