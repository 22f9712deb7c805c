"""The score path's logic without Kafka: one output per message, in order, with its reason."""

import json

from river import linear_model, preprocessing

from stream.model.artifact import Artifact
from stream.model.predictor import Predictor
from stream.serving.scoring import Message, Scorer


class Cache:  # the two dicts Scorer reads; the real ModelCache is exercised in the integration tests
    def __init__(self, predictors, known, load_errors=None):
        self.predictors, self.known, self.load_errors = predictors, known, load_errors or {}


class Broken:
    def predict_proba_one(self, x):
        raise ZeroDivisionError("boom")


def predictor(name="m", model=None):
    if model is None:
        model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
        for i in range(20):
            model.learn_one({"x": float(i)}, i > 10)
    meta = {"name": name, "task": "binary_classification", "schema": {"features": {"x": "number"}}}
    return Predictor.from_artifact(Artifact(meta, model), version=4)


def msg(value, offset=0):
    return Message(b"k%d" % offset, value if isinstance(value, bytes) else json.dumps(value).encode(), "events", 1, offset)


def run(scorer, messages):
    outputs = scorer.score(messages, scorer.parse(messages))
    return [(o.ok, json.loads(o.value)) for o in outputs]


def test_every_message_gets_exactly_one_output_in_order():
    scorer = Scorer(Cache({"m": predictor()}, {"m": 4, "idle": None}), default_model="m")
    messages = [
        msg({"id": 1, "features": {"x": 3.0}, "ts": 10.0}, 0),
        msg(b"garbage", 1),
        msg({"id": 2, "model": "nobody", "features": {"x": 1}}, 2),
        msg({"id": 3, "model": "idle", "features": {"x": 1}}, 3),
        msg({"id": 4, "model": "m", "features": {"x": "1"}}, 4),
        msg({"id": 5, "model": "m", "features": {"x": 12}}, 5),
    ]
    results = run(scorer, messages)
    assert [ok for ok, _ in results] == [True, False, False, False, False, True]
    assert [r.get("reason") for ok, r in results if not ok] == ["invalid_json", "unknown_model", "no_champion", "wrong_type"]
    first = results[0][1]
    assert (first["id"], first["model"], first["version"], first["ts_event"]) == ("1", "m", 4, 10.0)
    assert set(first["proba"]) == {"True", "False"} and abs(sum(first["proba"].values()) - 1) < 1e-9
    garbage = results[1][1]
    assert (garbage["partition"], garbage["offset"], garbage["id"]) == (1, 1, None)
    assert scorer.scored == 2 and sum(scorer.deadlettered.values()) == 4


def test_without_default_model_an_event_must_name_one():
    scorer = Scorer(Cache({"m": predictor()}, {"m": 4}))
    [(ok, record)] = run(scorer, [msg({"id": 1, "features": {"x": 1}})])
    assert not ok and record["reason"] == "unknown_model" and "DRIFTLINE_DEFAULT_MODEL" in record["detail"]


def test_a_model_that_raises_dead_letters_the_event_and_the_next_one_is_scored():
    scorer = Scorer(Cache({"bad": predictor("bad", Broken()), "m": predictor()}, {"bad": 4, "m": 4}))
    results = run(scorer, [msg({"id": 1, "model": "bad", "features": {"x": 1}}), msg({"id": 2, "model": "m", "features": {"x": 1}}, 1)])
    assert results[0][1]["reason"] == "prediction_failed" and "boom" in results[0][1]["detail"]
    assert results[1][0]


def test_a_champion_that_failed_to_load_says_why():
    scorer = Scorer(Cache({}, {"m": 2}, {"m": "ArtifactError: signature"}))
    [(ok, record)] = run(scorer, [msg({"id": 1, "model": "m", "features": {"x": 1}})])
    assert record["reason"] == "no_champion" and "signature" in record["detail"]


def test_http_objects_get_the_same_answers_as_the_stream():
    scorer = Scorer(Cache({"m": predictor()}, {"m": 4}))
    bodies = [{"id": i, "model": "m", "features": {"x": float(i)}} for i in range(5)] + [{"id": 9, "model": "m", "features": {}}]
    http = scorer.score_objects(bodies)
    stream = run(scorer, [msg(b, i) for i, b in enumerate(bodies)])
    for h, (ok, s) in zip(http[:5], stream[:5]):
        assert ok and (h["prediction"], h["proba"]) == (s["prediction"], s["proba"])
    assert http[5]["error"]["reason"] == stream[5][1]["reason"] == "missing_feature"
    assert scorer.missing_model_names(["m", "other", None]) == {"other"}


def test_an_http_event_over_the_stream_s_size_limit_is_oversized_as_on_the_stream():
    import json

    scorer = Scorer(Cache({"m": predictor()}, {"m": 4}), max_event_bytes=200)
    small = {"id": "s", "model": "m", "features": {"x": 1.0}}
    large = {"id": "l", "model": "m", "features": {"x": 1.0}, "note": "x" * 300}
    bodies = [small, large]
    answered = scorer.score_requests(bodies, body_bytes=len(json.dumps(bodies)))
    stream = run(scorer, [msg(b, i) for i, b in enumerate(bodies)])
    assert "prediction" in answered.results[0] and stream[0][0]
    assert answered.results[1]["error"]["reason"] == stream[1][1]["reason"] == "oversized"
    alone = scorer.score_requests([large], body_bytes=len(json.dumps(large)))
    assert alone.results[0]["error"]["reason"] == "oversized"
