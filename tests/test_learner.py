"""The learner's offsets: a replay after a crash is skipped, a recreated topic is learned."""

from __future__ import annotations

from stream.learning.learner import ModelLearner
from stream.training.datasets import load_dataset
from stream.training.trainer import train


def test_a_recreated_topic_is_learned_and_a_replay_is_not():
    data = load_dataset("phishing", limit=300)
    trained = train(data, "logreg", "offsets", holdout=0.2)
    learner = ModelLearner("offsets", "champion", 1, trained.metadata, trained.model)
    x, y = data.rows[0], data.targets[0]
    for offset in range(100):
        assert learner.learn(x, y, f"e{offset}", partition=0, offset=offset, ts=900.0) is not None
    learner.checkpoint_at = 1000.0  # as if it resumed from a checkpoint written then, at offset 99
    # Redelivered after a crash: written before the checkpoint, already learned.
    assert learner.learn(x, y, "e5", partition=0, offset=5, ts=950.0) is None
    assert learner.learn(x, y, "e5", partition=0, offset=5) is None  # no timestamp: the offset decides
    assert learner.n_learned == 100
    # Written long after the checkpoint at an offset it covers: the topic was recreated.
    assert learner.learn(x, y, "new-0", partition=0, offset=0, ts=2000.0) is not None
    assert learner.learn(x, y, "new-1", partition=0, offset=1, ts=2000.1) is not None
    assert learner.offsets[0] == 1 and learner.n_learned == 102
    assert learner.learn(x, y, "new-1", partition=0, offset=1, ts=2000.1) is None  # and it is exact from there


def test_a_restored_learner_skips_the_ids_its_checkpoint_remembers_and_an_old_checkpoint_still_loads():
    from collections import OrderedDict

    from stream.model import artifact

    data = load_dataset("phishing", limit=300)
    trained = train(data, "logreg", "ids", holdout=0.2)
    x, y = data.rows[0], data.targets[0]
    learner = ModelLearner("ids", "champion", 1, trained.metadata, trained.model, remember_ids=1500)
    for i in range(3200):
        learner.learn(x, y, f"e{i}", partition=0, offset=i)
    # Through the signed artifact a checkpoint is written as.
    blob = artifact.dumps(artifact.Artifact({"name": "ids", "kind": "learner_state"}, learner.state()), b"k", compress=False)
    restored = ModelLearner("ids", "champion", 1, trained.metadata, trained.model, remember_ids=1500)
    restored.restore(artifact.loads(blob, b"k").model)
    # A duplicate at a later offset (a label joined twice) is passed over; one older than the
    # remembered ids is learned.
    assert restored.learn(x, y, "e3199", partition=0, offset=5000) is None and restored.duplicates == 1
    assert restored.learn(x, y, "e1700", partition=0, offset=5001) is None
    assert restored.learn(x, y, "e100", partition=0, offset=5002) is not None
    assert restored.n_learned == 3201

    # A checkpoint written before the ids were chunked holds an OrderedDict.
    old_state = dict(learner.state(), recent_ids=OrderedDict((f"e{i}", None) for i in range(3000, 3200)))
    old = ModelLearner("ids", "champion", 1, trained.metadata, trained.model, remember_ids=1500)
    old.restore(old_state)
    assert old.learn(x, y, "e3100", partition=0, offset=6000) is None
    assert old.learn(x, y, "e2999", partition=0, offset=6001) is not None
