"""The live view in a notebook: its picture is an image output of its own, redrawn in place at every change, so a
saved notebook and the HTML report show the last picture even where the widget cannot be shown."""
import nbformat

from tlclinic.notebooks import execute

VIEW = '''
import numpy as np
from tlclinic.live import toggle
from tlclinic.training import Run

def train(value):
    return Run(None, {"loss": [1.0, 0.5 if value == "a" else 0.9]}, [], np.zeros(1), 0.01)

def draw(run, fig, value):
    fig.subplots().plot(run.history["loss"])
    fig.suptitle(value)

view = toggle(["a", "b"], "a", train, draw)
view
'''


def _live_cell(tmp_path, *later):
    path = tmp_path / "live.ipynb"
    path.write_text(nbformat.writes(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(VIEW), *map(nbformat.v4.new_code_cell, later)])))
    return execute(path).cells[0].outputs


def test_a_live_cell_leaves_a_picture_and_says_it_is_live_and_a_change_redraws_that_picture(tmp_path):
    widget, caption, picture = _live_cell(tmp_path)
    assert "application/vnd.jupyter.widget-view+json" in widget["data"]
    assert "live" in caption["data"]["text/markdown"] and "JupyterLab" in caption["data"]["text/markdown"]
    [changed] = [o for o in _live_cell(tmp_path, "view.control.value = 'b'") if "image/png" in o["data"]]
    assert picture["data"]["image/png"] != changed["data"]["image/png"]  # the same output, redrawn for "b"
