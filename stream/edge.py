"""``python -m stream.edge MODEL.dla < rows.jsonl``: the edge runtime's entry point, kept at this
path because devices run it (and import ``load`` from it) by this name. The runtime itself is
:mod:`stream.model.edge`."""

import sys

from stream.model.edge import load, main, score_many

__all__ = ["load", "main", "score_many"]

if __name__ == "__main__":
    sys.exit(main())
