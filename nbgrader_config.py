"""nbgrader's configuration for commands and Formgrader started at the repository root (`make lab`): the
course's own, in autograde/nbgrader_config.py."""
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader provides get_config and load_subconfig)
load_subconfig(str(Path(__file__).resolve().parent / "autograde" / "nbgrader_config.py"))  # noqa: F821
