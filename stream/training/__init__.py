"""Training: data sets, fitting a model spec into a signed artifact, and building the drift
baseline that every artifact carries.

May import ``stream.model`` and ``monitors``.
"""
