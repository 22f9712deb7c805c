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


def test_f1_counts_a_positive_class_that_is_not_true():
    """Binary labels "no"/"yes": the hold-out F1 at training and the learner's prequential F1 are
    the F1 of "yes" (River's own F1 with pos_val="yes" reads 0 whatever the predictions)."""
    import random

    from stream.training.datasets import Dataset

    rng = random.Random(3)
    rows = [{"x": rng.uniform(0, 10)} for _ in range(1000)]
    targets = ["yes" if row["x"] + rng.gauss(0, 1) > 5 else "no" for row in rows]
    trained = train(Dataset("yes-no", "binary_classification", "y", rows, targets), "logreg", "yes-no", holdout=0.3)
    holdout = trained.metadata["metrics"]["holdout"]
    assert holdout["f1"] > 0.8 and holdout["accuracy"] > 0.8

    learner = ModelLearner("yes-no", "champion", 1, trained.metadata, trained.model)
    for i, (row, y) in enumerate(zip(rows, targets)):
        learner.learn(row, y, f"e{i}", partition=0, offset=i)
    predicted = [learner.predictor.predict(learner.predictor.schema.validate(row))["prediction"] for row in rows]
    assert learner.metrics.overall()["f1"] > 0.8 and {"yes", "no"} == set(predicted)
