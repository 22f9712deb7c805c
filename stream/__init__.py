"""Driftline's service, one package per stage of the data flow (the README's Layout section):
``model`` (the portable core), ``wire``, ``transport``, ``registry``, ``training``, ``serving``,
``learning``, ``monitoring``, ``batch``, ``web``, ``cli``, ``dev``; ``app`` wires the stages,
``settings`` and ``errors`` are shared.

Importing this package does nothing: no connections, threads or I/O; Faust is imported only by
the modules that need it (``stream.app`` and the stages' agents).
"""

__version__ = "0.1.0"
