"""Learning from delayed labels: the pending store of predictions, the label join, the learners
(test-then-train, prequential metrics, concept drift, snapshots) and their agents.

May import ``stream.model``, ``stream.wire``, ``stream.transport``, ``stream.registry``,
``stream.serving`` (the scored events it remembers) and ``monitors``.
"""

from .joiner import HeldRetry, Joined, LabelJoiner
from .learner import ModelLearner
from .learners import Learners
from .pending import PendingStore

__all__ = ["HeldRetry", "Joined", "LabelJoiner", "Learners", "ModelLearner", "PendingStore"]
