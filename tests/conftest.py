import functools
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep ``--dist loadgroup``'s groups (make test, make e2e) on one worker each, as ``xdist_group`` asks.

    pytest-xdist 3.8 groups a test by an ``@group`` suffix that it writes into ``item._nodeid``, which pytest 9 no
    longer reads (a node's id is ``item._id``), so every test was scheduled on its own: the grader's class was
    graded on both workers (two setups of about 7 minutes in one run), and a lesson's solution and release
    notebooks could run side by side.  The suffix is written where pytest 9 reads it; where pytest's internals
    differ, nothing is done.
    """
    if not getattr(config.option, "loadgroup", False):  # set in the workers of a --dist loadgroup run
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = coerce_node_id(item.nodeid + suffix)


@pytest.fixture
def short_runs(monkeypatch):
    """``short_runs(lesson, epochs=2)``: the lesson's ``train`` (which its live view trains with) runs ``epochs``
    unless a caller says otherwise.  For the tests of how a run is kept, traced, trained in the background or
    shown, which compare two runs or two pictures: what is compared is the same after two epochs as after all
    the lesson's (five for lessons 01 and 02), in a fraction of the time.  What a run reaches is tested at the
    lesson's own length."""
    def shorten(lesson, epochs: int = 2) -> None:
        monkeypatch.setattr(lesson, "train", functools.partial(lesson.train, epochs=epochs))

    return shorten
