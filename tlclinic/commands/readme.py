"""Write the README's generated parts that come from the lessons and their committed files (no training).

    python -m tlclinic.commands.readme [--check]

``--check`` writes nothing and exits 1, naming the part, when the README differs from what it would write.
"""
from __future__ import annotations

import argparse
import sys

from .. import generated
from ..lessons import discover


def write_readme() -> list[str]:
    """Rewrite the computed parts of the README; the names of those that changed."""
    lessons = list(discover().values())
    return [name for name, text in generated.computed(lessons).items() if generated.write(name, text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.commands.readme", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the README is stale")
    args = parser.parse_args(argv)
    if args.check:
        lessons = list(discover().values())
        stale = [name for name, text in generated.computed(lessons).items()
                 if generated.read(name).rstrip("\n") != text.rstrip("\n")]
        for name in stale:
            print(f"README.md: the generated part {name!r} is stale: run python -m tlclinic.commands.readme",
                  file=sys.stderr)
        return 1 if stale else 0
    for name in write_readme():
        print(f"README.md: rewrote the generated part {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
