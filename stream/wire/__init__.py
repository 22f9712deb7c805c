"""The wire contract: the records on every topic, parsed and built in one place.

``events`` holds ``events``, ``labels``, ``predictions``, ``training`` and ``deadletter``;
``drift`` holds ``monitoring`` and ``drift-events``. Field names are a public contract (the
README's wire contract): extend, never rename. Standard library and ``stream.model`` only.
"""
