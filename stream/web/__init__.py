"""The worker's HTTP endpoints: health, prediction, the models and drift APIs.

Reads the stages' state through what each stage hands it; may import the stage packages
(``serving``, ``learning``, ``monitoring``), ``registry``, ``transport`` and ``model``.
"""
