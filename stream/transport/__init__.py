"""Kafka plumbing shared by every stage: the Faust app class, producing record batches, creating
topics, and keeping one message's failure to that message (``isolation``).

The only package that reaches into Faust's or aiokafka's private API, each in one named place.
May import ``stream.wire`` and ``stream.model``.
"""
