"""Serving: the score agent, scoring batches into predictions and dead letters, and the model
cache that swaps in new champions and snapshots.

May import ``stream.model``, ``stream.wire``, ``stream.transport``, ``stream.registry``,
``stream.training`` (the baselines a loaded model carries) and ``monitors``.
"""
