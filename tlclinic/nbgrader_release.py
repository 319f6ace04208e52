"""nbgrader's ClearSolutions, extended so a student starts from the broken program.

In a solution cell of the source notebook, a solution region may end with a
``### RELEASE AS`` section of commented-out lines::

    ### BEGIN SOLUTION
    outputs = layers.Dense(1, activation="sigmoid")(x)
    ### RELEASE AS
    # outputs = layers.Dense(1, activation="softmax")(x)
    ### END SOLUTION

The source runs the solution; the released notebook gets the ``RELEASE AS``
lines uncommented (the broken, runnable code) in place of the region.  Regions
without the marker get nbgrader's usual stub.  The class is set in
``autograde/nbgrader_config.py`` in place of ClearSolutions.

    python -m tlclinic.nbgrader_release      (make release: every lesson's release, regenerated)
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from nbgrader.preprocessors import ClearSolutions
from traitlets import Unicode

_COMMENT = re.compile(r"^(\s*)# ?(.*)$")


class ReleaseBrokenCode(ClearSolutions):
    release_delimiter = Unicode("### RELEASE AS", help="Marks the commented lines a student starts from").tag(
        config=True)

    def _replace_solution_region(self, cell, language: str) -> bool:
        if cell.cell_type != "code" or self.release_delimiter not in cell.source:
            return super()._replace_solution_region(cell, language)
        out, state = [], "code"
        for line in cell.source.split("\n"):
            if self.begin_solution_delimeter in line:
                state = "solution"
            elif self.release_delimiter in line and state == "solution":
                state = "release"
            elif self.end_solution_delimeter in line:
                if state != "release":
                    raise RuntimeError(f"a solution region of this cell has no '{self.release_delimiter}' "
                                       f"section:\n{cell.source}")
                state = "code"
            elif state == "code":
                out.append(line)
            elif state == "release":
                match = _COMMENT.match(line)
                if not match and line.strip():
                    raise RuntimeError(f"'{self.release_delimiter}' lines must be commented out:\n{line}")
                out.append(match.group(1) + match.group(2) if match else line)
        if state != "code":
            raise RuntimeError(f"no end solution statement found:\n{cell.source}")
        cell.source = "\n".join(out)
        return True


def release(release_dir: Path | None = None) -> list[str]:
    """Generate every lesson's student release from its source with nbgrader (``make release``).

    ``release_dir`` defaults to ``notebooks/``; the tests generate into a temporary folder and compare.
    """
    from .lessons import ROOT, names

    extra = [f"--CourseDirectory.release_directory={release_dir}"] if release_dir else []
    for lesson in names():
        done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lesson, "--no-db", "--force",
                               "--log-level=ERROR", *extra], cwd=ROOT / "autograde", capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"nbgrader could not release {lesson}:\n{done.stdout}{done.stderr}")
    return names()


if __name__ == "__main__":
    print("released:", ", ".join(release()))
