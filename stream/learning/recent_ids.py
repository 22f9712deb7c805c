"""The ids a learner learned most recently, to pass over the duplicates at-least-once delivery brings.

A learner checkpoints them with its state about once per thousand examples. Kept as one
``OrderedDict`` of 100,000 ids, that pickle took 30-40 ms per checkpoint (pickle memoises every
string), more than the learning of those thousand examples: a tenth of a labelled event's cost in
a worker. Here the ids are sealed in chunks as they come, each chunk encoded once (msgpack), so a
checkpoint pickles a list of byte strings and the ids added since the last chunk.

At least the last ``size`` ids are remembered; the oldest chunk is forgotten as a whole once the
newer ones hold ``size`` ids without it.

>>> ids = RecentIds(size=2500, chunk=1000)
>>> for i in range(4000):
...     ids.add(f"e{i}")
>>> "e3999" in ids, "e1500" in ids, "e999" in ids, len(ids)
(True, True, False, 3000)
>>> import pickle
>>> restored = pickle.loads(pickle.dumps(ids))
>>> restored == ids, "e1000" in restored, "e999" in restored, restored.size
(True, True, False, 2500)

A checkpoint written before the chunks held an ``OrderedDict``; it is taken as it is:

>>> from collections import OrderedDict
>>> old = RecentIds.from_ids(OrderedDict((f"e{i}", None) for i in range(7)), size=3, chunk=2)
>>> sorted(old.members)
['e2', 'e3', 'e4', 'e5', 'e6']
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

import msgspec

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[str]).decode


class RecentIds:
    def __init__(self, size: int, chunk: int = 1000):
        if size < 1 or chunk < 1:
            raise ValueError("size and chunk must be >= 1")
        self.size, self.chunk = size, chunk
        self.members: set[str] = set()
        self.sealed: deque[tuple[list[str], bytes]] = deque()  # (ids, their encoding), oldest first
        self.sealed_count = 0
        self.fresh: list[str] = []  # added since the last chunk was sealed

    @classmethod
    def from_ids(cls, ids: Iterable[str], size: int, chunk: int = 1000) -> "RecentIds":
        recent = cls(size, chunk)
        for event_id in ids:
            recent.add(event_id)
        return recent

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.members

    def __len__(self) -> int:
        return len(self.members)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecentIds) and (self.size, self.members) == (other.size, other.members)

    def add(self, event_id: str) -> None:
        """Remember an id that is not remembered yet (the caller checked)."""
        self.members.add(event_id)
        self.fresh.append(event_id)
        if len(self.fresh) >= self.chunk:
            self._seal()

    def _seal(self) -> None:
        self.sealed.append((self.fresh, _encode(self.fresh)))
        self.sealed_count += len(self.fresh)
        self.fresh = []
        # An id is in one chunk only (it is added only when not remembered), so dropping a chunk's
        # ids from the set forgets exactly them.
        while self.sealed and self.sealed_count - len(self.sealed[0][0]) + len(self.fresh) >= self.size:
            oldest, _ = self.sealed.popleft()
            self.sealed_count -= len(oldest)
            self.members.difference_update(oldest)

    def __getstate__(self) -> dict:
        return {"size": self.size, "chunk": self.chunk,
                "chunks": [encoded for _, encoded in self.sealed] + [_encode(self.fresh)]}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"], state["chunk"])
        for encoded in state["chunks"]:
            for event_id in _decode(encoded):
                self.add(event_id)
