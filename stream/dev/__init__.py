"""For one machine and for tests: the embedded stack (Tansu and redis-server), the demo, replaying
data sets into Kafka, running a worker process, and reading back what it wrote.

May import ``stream.model``, ``stream.transport``, ``stream.registry`` and ``stream.training``.
"""
