"""Decoding one message's JSON so that the only thing a message can raise is :class:`InvalidInput`.

Standard library only (the edge runtime ships it). ``json.loads`` alone is not safe on input from
outside: it raises ``RecursionError`` (not ``ValueError``) on deep nesting, ``ValueError`` on an
integer past Python's 4,300-digit conversion limit, and it accepts lone UTF-16 surrogates
(``"\\ud800"``) that later fail to encode, and integers too large for a float that later
overflow. Each of those is a fact about one message, so each becomes that message's dead-letter
reason here, never an exception that stops an agent.

Reasons: ``invalid_json`` (not UTF-8, not JSON, or not valid Unicode) and ``unprocessable`` (valid
JSON that Python cannot hold: nested too deeply, or an integer with too many digits).

>>> decode_json(b'{"id": 1, "x": [1.5, "a"]}')
{'id': 1, 'x': [1.5, 'a']}
>>> decode_json(b"[" * 100_000 + b"]" * 100_000)
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: unprocessable: nested too deeply (Python's recursion limit)
>>> decode_json(b'{"id": "\\\\ud800"}')
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: invalid_json: a string holds a lone UTF-16 surrogate (not valid Unicode)
>>> decode_json(b"\\xff")
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: invalid_json: not UTF-8: invalid start byte at byte 0
>>> is_finite_number(10 ** 400), is_finite_number(1e308), is_finite_number(True)
(False, True, False)
"""

from __future__ import annotations

import json
import math
from typing import Any

from .schema import FLOAT_MAX, InvalidInput


def decode_json(raw: bytes | bytearray | str | None) -> Any:
    """The JSON value of one message, or :class:`InvalidInput` with the reason."""
    if raw is None:
        raise InvalidInput("invalid_json", "the message has no value")
    if isinstance(raw, str):
        text = raw
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput("invalid_json", "a string holds a lone UTF-16 surrogate (not valid Unicode)") from None
    else:
        try:
            text = bytes(raw).decode("utf-8")  # strict: encoded surrogates are refused here too
        except UnicodeDecodeError as exc:
            raise InvalidInput("invalid_json", f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise InvalidInput("unprocessable", "nested too deeply (Python's recursion limit)") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise InvalidInput("unprocessable", f"a number has too many digits: {exc}") from None
        raise InvalidInput("invalid_json", f"not JSON: {exc}") from None
    # A "\u" escape is the only way a surrogate survives strict UTF-8 decoding: walk only then.
    if "\\u" in text and _has_lone_surrogate(body):
        raise InvalidInput("invalid_json", "a string holds a lone UTF-16 surrogate (not valid Unicode)")
    return body


def is_finite_number(value: Any) -> bool:
    """A JSON number that a float can hold: not a bool, NaN, an infinity, or an int past ~1.8e308."""
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is int:
        return -FLOAT_MAX <= value <= FLOAT_MAX
    return False


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]  # iterative: the value may be nested as deeply as json.loads allows
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and not _encodes(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
