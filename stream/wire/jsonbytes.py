"""JSON bytes for the score path's outputs (predictions, dead letters, remembered predictions).

msgspec's encoder, because encoding them was the largest single cost left in a worker's profile
(the C json encoder: 12.5% of the main thread's samples on a backlog); json for what it refuses
(what neither writes natively becomes its ``str``, keys as json writes them). Not orjson: Faust switches its own JSON (web
responses, request bodies) to orjson whenever it is importable, and orjson refuses integers
beyond 64 bits that the HTTP API accepts. Non-finite floats become null, as JSON has none.

Decoding (:func:`loads`) is msgspec's too, for what it accepts; everything it refuses takes
:func:`stream.model.decoding.decode_json`, with that function's value or dead-letter reason.

>>> loads(b'{"id": "e1", "features": {"x": 1.5, "n": 2}}')
{'id': 'e1', 'features': {'x': 1.5, 'n': 2}}
>>> loads(b'{"x": NaN}')  # msgspec refuses NaN; json takes it, as before
{'x': nan}
>>> loads(b'{"id": "\\\\ud800"}')
Traceback (most recent call last):
...
stream.model.schema.InvalidInput: invalid_json: a string holds a lone UTF-16 surrogate (not valid Unicode)

>>> import json
>>> dumps({"id": "e1", "proba": {"true": 0.25, "false": 0.75}, "ts": 1.5})
b'{"id":"e1","proba":{"true":0.25,"false":0.75},"ts":1.5}'
>>> dumps({"big": 2 ** 70, "nan": float("nan")})
b'{"big":1180591620717411303424,"nan":null}'
>>> dumps({True: 1.0, None: 2, 3: 4, "when": object}) == json.dumps({True: 1.0, None: 2, 3: 4, "when": str(object)}, separators=(",", ":")).encode()
True
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from stream.model.decoding import decode_json


def _default(value: Any) -> str:
    if isinstance(value, bool) or value is None:  # as dict keys: json writes "true", "null"
        return json.dumps(value)
    return str(value)


_encode = msgspec.json.Encoder(enc_hook=_default).encode


def dumps(value: Any) -> bytes:
    try:
        return _encode(value)
    except (TypeError, msgspec.EncodeError):  # anything else it refuses: json, as before
        return json.dumps(value, separators=(",", ":"), default=str).encode()


_decode = msgspec.json.Decoder().decode


def loads(raw: bytes | bytearray | str | None) -> Any:
    """:func:`~stream.model.decoding.decode_json`, about three times faster on the usual message.

    Whenever msgspec accepts the input it decodes it to exactly what json does; what it refuses
    (NaN and Infinity literals, lone surrogates, bytes that are not UTF-8, integers past Python's
    4,300-digit conversion limit, nesting past the recursion limit) is given to ``decode_json``,
    which decodes it as before or names the dead-letter reason.
    """
    if type(raw) is bytes:
        try:
            return _decode(raw)
        except (msgspec.DecodeError, RecursionError):
            pass
    return decode_json(raw)
