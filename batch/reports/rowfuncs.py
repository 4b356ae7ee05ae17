"""Row functions for the streamed writer: a chunk's rows of sheet XML built by one f-string each.

A chunk of rows (``fastxlsx._chunk_xml``) has one shape — each column's letter, what opens and
closes its values, whether every row, no row or some rows have one — and a few rows of styles.
For each pair a function is compiled once, taking a row's number and its columns' texts, and
returns the row's XML in one go; a string per cell and their join cost twice as much. Only our
own tags, letters and style numbers are compiled: what a member typed is only ever an argument.
"""
from __future__ import annotations

from typing import Callable

# A column of a chunk as a row function sees it: its letter, what opens and closes a value, and
# whether the chunk's rows all have one, none has, or either.
VALUE, BLANK, EITHER = "value", "blank", "either"
Part = tuple[str, str, str, str]
_ROW_FUNCTIONS: dict[tuple[tuple[Part, ...], tuple[int, ...]], Callable[..., str]] = {}
ROW_FUNCTIONS_KEPT = 512                # chunk shapes and rows of styles: a night uses dozens


def row_function(shape: tuple[Part, ...], styles: tuple[int, ...]) -> Callable[..., str]:
    """A function of a row's number and its columns' texts (but a column blank in every row) to
    the row's XML, compiled once per shape and styles (see the module's docstring)."""
    found = _ROW_FUNCTIONS.get((shape, styles))
    if found is None:
        names = ["n", *(f"a{col}" for col, part in enumerate(shape) if part[3] != BLANK)]
        body = "".join(_cell_source(col, part, style)
                       for col, (part, style) in enumerate(zip(shape, styles)))
        if "'" in body or "\\" in body:           # never: the literals are ours
            raise ValueError(f"not a row function: {body}")
        source = f"lambda {', '.join(names)}: f'<row r=\"{{n}}\">{body}</row>'"
        if len(_ROW_FUNCTIONS) >= ROW_FUNCTIONS_KEPT:
            _ROW_FUNCTIONS.clear()
        found = _ROW_FUNCTIONS[shape, styles] = eval(source, {"__builtins__": {}})  # noqa: S307
    return found


def _cell_source(col: int, part: Part, style: int) -> str:
    """One column's cell in a row function's f-string (``{n}`` the row number, ``{aN}`` its text):
    a value, a blank (nothing at all without a style) or, where rows differ, whichever the text
    asks for. Our own literals have no braces, but are escaped as if they might."""
    letter, value_open, value_close = (p.replace("{", "{{").replace("}", "}}") for p in part[:3])
    s = f'" s="{style}"' if style else '"'
    value = f'<c r="{letter}{{n}}{s}{value_open}{{a{col}}}{value_close}'
    blank = f'<c r="{letter}{{n}}{s}/>' if style else ""
    if part[3] == EITHER:                             # a nested f-string: the outer one is in '
        return f'{{f"""{value}""" if a{col} else f"""{blank}"""}}'
    return value if part[3] == VALUE else blank
