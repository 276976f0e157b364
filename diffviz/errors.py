"""diffviz's refusals: one error type for bad input at the public boundary (API, widgets, CLI).

Every refusal says what was wrong and what is allowed, in one short line; long values are elided
(`short`). `DiffvizError` subclasses ValueError (and `InputTypeError` also TypeError), so code that
catches those keeps working. Widgets show a DiffvizError in their banner; `diffviz ...` prints it as
one line and exits 2. Anything else that escapes is a bug, and is reported as one.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

ELIDE = 60  # characters of a long value quoted in a message


class DiffvizError(ValueError):
    """Bad input: the message says what was wrong and what is allowed."""


class InputTypeError(DiffvizError, TypeError):
    """A value of the wrong type (a string where a number goes, a float where an integer goes, …)."""


class MissingFileError(DiffvizError, FileNotFoundError):
    """A file or folder a call needs is not there."""


class OutOfRangeError(DiffvizError, IndexError):
    """An index past the end (a trajectory step, an example)."""


class FileFormatError(DiffvizError):
    """A file is there but is not what diffviz wrote (broken JSON, truncated weights, another format)."""


class OutputPathError(DiffvizError, OSError):
    """diffviz cannot write where it was asked to (a folder where a file goes, no permission, no folder)."""


def unreadable_weights(file, err) -> str:
    """The one message for a weights file that cannot be read (cut short by a crash, or not safetensors)."""
    return f"{file} is not a readable safetensors file (truncated or corrupted?): {str(err)[:120]}"


def short(value, limit: int = ELIDE) -> str:
    """repr of a value for a message, elided: a 5,000-character prompt becomes its first `limit`
    characters + "… (5000 characters)"; numpy scalars show as plain numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    text = repr(value)
    if len(text) > limit:
        return f"{text[:limit]}… ({len(text)} characters)"
    return text


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as a Python int within [minimum, maximum]; numpy and torch integer scalars count as integers."""
    if isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be an integer, got {short(value)}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InputTypeError(f"{name} must be an integer, got {type(value).__name__} {short(value)}") from None
    if minimum is not None and number < minimum:
        raise DiffvizError(f"{name} must be >= {minimum}{_upto(maximum)}, got {short(number)}")
    if maximum is not None and number > maximum:
        raise DiffvizError(f"{name} must be <= {maximum}, got {short(number)}")
    return int(number)


def _upto(maximum) -> str:
    return "" if maximum is None else f" and <= {maximum}"


def check_number(name: str, value, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """`value` as a finite float within [minimum, maximum]; numpy scalars count as numbers."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)) or isinstance(value, np.complexfloating):
        raise InputTypeError(f"{name} must be a number, got {type(value).__name__} {short(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise DiffvizError(f"{name} must be a finite number, got {short(value)}") from None
    if math.isnan(number) or math.isinf(number):
        raise DiffvizError(f"{name} must be a finite number, got {number}")
    if minimum is not None and number < minimum:
        raise DiffvizError(f"{name} must be >= {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise DiffvizError(f"{name} must be <= {maximum:g}, got {number:g}")
    return number


def check_choice(name: str, value, allowed) -> str:
    """`value` if it is one of `allowed` (strings), else a refusal listing them."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise DiffvizError(f"unknown {name} {short(value)}; allowed: {', '.join(map(str, allowed))}")
    return value
