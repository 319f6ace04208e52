"""nbgrader configuration of the workbook: solutions/ is the source, notebooks/ the release."""
from pathlib import Path

from nbgrader.preprocessors import ClearSolutions

from tlclinic.nbgrader_release import ReleaseBrokenCode

c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.root = str(Path(__file__).resolve().parent.parent)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///" + str(Path(__file__).resolve().parent / "gradebook.db")

# The release keeps the broken, runnable program where the student's fix goes.
from nbgrader.converters import GenerateAssignment  # noqa: E402

c.GenerateAssignment.preprocessors = [
    ReleaseBrokenCode if p is ClearSolutions else p
    for p in GenerateAssignment.class_traits()["preprocessors"].default()
]

# Autograding: a training cell gets up to 3 minutes (nbgrader's default of 30 s is too short on a slow
# machine); a cell that runs longer is interrupted and scored as failed. Deleted or edited test cells are
# put back from the source.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
