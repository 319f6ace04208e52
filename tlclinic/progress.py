"""One progress bar for the whole workbook: a widget in Jupyter, text in a terminal.

``TQDM_DISABLE=1`` in the environment turns every bar off (the tests do).
"""
from tqdm.auto import tqdm


def progress(iterable, desc: str, quiet: bool = False, **kwargs):
    if quiet:
        kwargs["disable"] = True
    return tqdm(iterable, desc=desc, leave=False, **kwargs)
