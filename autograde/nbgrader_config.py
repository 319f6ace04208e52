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
