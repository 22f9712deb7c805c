"""The portable core: what a model is once exported, and how it answers.

Artifacts (signed, with metadata and baseline), feature schemas, safe JSON decoding, the
predictor, the model specs and compaction, and the edge runtime. Imports only the standard
library, River and ``stream.errors``: this package is exactly what ``driftline edge-bundle``
ships to a device (``tests/test_layout.py`` enforces it).
"""
