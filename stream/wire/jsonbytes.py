"""JSON bytes for the score path's outputs (predictions, dead letters, remembered predictions).

msgspec's encoder, because encoding them was the largest single cost left in a worker's profile
(the C json encoder: 12.5% of the main thread's samples on a backlog); json for what it refuses
(what neither writes natively becomes its ``str``, keys as json writes them). Not orjson: Faust switches its own JSON (web
responses, request bodies) to orjson whenever it is importable, and orjson refuses integers
beyond 64 bits that the HTTP API accepts. Non-finite floats become null, as JSON has none.

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
