"""The live view in a notebook: its picture is an image output of its own, redrawn in place at every change, so a
saved notebook and the HTML report show the last picture even where the widget cannot be shown."""
import base64
import hashlib

import nbformat
import pytest

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


@pytest.mark.e2e
def test_a_live_cell_leaves_a_picture_and_says_it_is_live_and_a_change_redraws_that_picture(tmp_path):
    path = tmp_path / "live.ipynb"
    path.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        VIEW, "import hashlib\nfor _ in range(2): print(hashlib.sha256(view.picture().data).hexdigest())", "view.control.value = 'b'")])))
    nb = execute(path)
    widget, caption, picture = nb.cells[0].outputs
    assert "application/vnd.jupyter.widget-view+json" in widget["data"]
    assert "live in JupyterLab" in caption["data"]["text/markdown"]
    first, again = nb.cells[1].outputs[0]["text"].split()  # the picture for "a", before the change, drawn twice
    assert first == again  # drawing is deterministic, so a picture that was not redrawn would compare equal
    now = hashlib.sha256(base64.b64decode(picture["data"]["image/png"])).hexdigest()
    assert now != first  # the same output, redrawn in place for "b"
