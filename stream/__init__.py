"""Driftline's service: settings, artifacts, registry, the Faust app, its web views and the CLI.

Importing this package does nothing: no connections, threads or I/O; Faust is imported only by
the modules that need it (``stream.app`` and the agents).
"""

__version__ = "0.1.0"
