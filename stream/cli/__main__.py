"""``python -m stream.cli``: the ``driftline`` command."""

from stream.cli import main

main()
