"""The command lines, on top of the library: each module here is one command (``python -m tlclinic.commands.<name>``
or its console script in ``pyproject.toml``).  Commands may import any module of the package; no module of the
package imports a command."""
