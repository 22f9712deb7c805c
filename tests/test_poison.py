"""No input may crash an agent: property tests of every parser, and the batch fallback.

Every parser of external or internal input (events, labels, training examples, monitoring
summaries, drift-events records) must return a parsed value or raise ``InvalidInput`` with a reason: never anything
else, whatever bytes arrive. The score path must turn every message into exactly one output.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stream.alerts.payloads import alert_body, describe, slack_body
from stream.learning import Learners
from stream.learning.learner import ModelLearner
from stream.model.artifact import Artifact
from stream.model.decoding import decode_json
from stream.model.predictor import Predictor
from stream.model.schema import InvalidInput
from stream.serving.scoring import Message, Scorer
from stream.transport.isolation import Isolation, is_infrastructure
from stream.wire.drift import parse_drift_record, parse_monitoring_message
from stream.wire.events import Event, parse_event, parse_label, parse_training_example
from stream.wire.jsonbytes import loads

REASONS = {"oversized", "invalid_json", "unprocessable", "not_an_object", "missing_id", "invalid_field",
           "unknown_model", "no_champion", "missing_feature", "wrong_type", "not_finite", "prediction_failed",
           "processing_error", "missing_label", "invalid_label"}

# JSON texts, built as text so that they can hold what json.dumps never writes: huge integers,
# 1e400, NaN/Infinity literals, duplicate keys, lone surrogate escapes, deep nesting.
_scalar_texts = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),  # past Python's 4,300-digit limit for some
    st.integers(300, 400).map(lambda n: f"1{'0' * n}"),  # ints too large for a float
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "true", "false", "null", "1.5e-400"]),
    st.text(max_size=20).map(json.dumps),
    st.sampled_from(['"\\ud800"', '"\\udc00x"', '"a\\ud83d"', '"\\u0000"', '"\\ud83d\\ude00"']),
)
_keys = st.one_of(st.sampled_from(['"id"', '"model"', '"features"', '"label"', '"ts"', '"summary"', '"x"', '"\\ud800"']),
                  st.text(max_size=8).map(json.dumps))


def _object(pairs):
    return "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"


_json_texts = st.recursive(
    _scalar_texts,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(_keys, children), max_size=6).map(_object),  # duplicate keys included
    ),
    max_leaves=30,
)
_deep = st.integers(1, 200_000).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n,
                               '{"id":"d","model":"m","features":{"x":' + "[" * n + "]" * n + "}}"]))


@st.composite
def _envelopes(draw):
    """Objects shaped like events, labels, examples and summaries, with hostile field values."""
    fields = {
        '"id"': draw(st.one_of(_scalar_texts, st.just('"e1"'))),
        '"model"': draw(st.one_of(_scalar_texts, st.just('"m"'))),
        '"features"': draw(st.one_of(_json_texts, st.just('{"x": 1.5, "c": "a"}'), st.just('{"x": ' + "9" * 400 + "}"))),
        '"label"': draw(st.one_of(_json_texts, st.just("true"))),
        '"ts"': draw(_scalar_texts),
        '"summary"': draw(st.one_of(_json_texts, st.just('{"n_rows": 1}'))),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    pairs = [(k, fields[k]) for k in chosen]
    if pairs and draw(st.booleans()):
        pairs.append((pairs[0][0], draw(_scalar_texts)))  # a duplicate key
    return _object(pairs)


_texts = st.one_of(_json_texts, _envelopes(), _deep)


@st.composite
def _messages(draw):
    """Arbitrary bytes, or a JSON text as UTF-8, sometimes with bytes that are not UTF-8 spliced in."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    raw = draw(_texts).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:]
    return raw


PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_gives_a_reason(parse, raw):
    try:
        return parse(raw)
    except InvalidInput as error:
        assert error.reason in REASONS, error.reason
        return None


def _outcome(decode, raw):
    """What decoding gives: ("value", its tokens) or ("error", the message)."""
    try:
        value = decode(raw)
    except InvalidInput as error:
        return "error", str(error)
    return "value", _tokens(value)


def _tokens(value) -> list:
    """The value as a flat list of (type, repr) tokens: NaN equals NaN, 1 differs from 1.0, and
    a value nested as deeply as the decoders allow does not overflow the stack."""
    tokens, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            tokens.append(("dict", len(item)))
            for key, child in reversed(list(item.items())):
                stack.extend([child, key])
        elif isinstance(item, list):
            tokens.append(("list", len(item)))
            stack.extend(reversed(item))
        else:
            tokens.append((type(item).__name__, repr(item)))
    return tokens


@PROPERTY
@given(_messages())
@example(b'{"id": ' + b"7" * 5000 + b"}")  # past the 4,300 digits Python converts: unprocessable
@example(b'{"x": NaN, "y": -Infinity}')  # msgspec refuses these literals; json takes them
@example(b'{"id": "\\ud800"}')  # a lone surrogate: invalid_json
def test_the_fast_decoder_gives_what_the_standard_one_gives(raw):
    # The score path decodes with msgspec first: same value, or the same dead-letter reason.
    fast, standard = _outcome(loads, raw), _outcome(decode_json, raw)
    if standard[0] == "error" and "nested too deeply" in standard[1] and fast[0] == "value":
        return  # the one known difference: at the recursion limit the two stop a few levels apart
    assert fast == standard


@PROPERTY
@given(_messages())
def test_the_event_parser_returns_an_event_or_a_reason(raw):
    event = _parses_or_gives_a_reason(lambda r: parse_event(r, 65536), raw)
    if event is not None:
        assert isinstance(event, Event) and isinstance(event.id, str)
        event.id.encode("utf-8")  # what the score path keys its outputs with
        json.dumps(event.features)


@PROPERTY
@given(_messages())
def test_the_label_parser_returns_a_label_or_a_reason(raw):
    label = _parses_or_gives_a_reason(lambda r: parse_label(r, 65536), raw)
    if label is not None:
        assert isinstance(label.id, str) and label.label is not None
        label.id.encode("utf-8")
        json.dumps(label.label)


@PROPERTY
@given(_messages())
def test_the_training_example_parser_returns_an_example_or_a_reason(raw):
    example = _parses_or_gives_a_reason(parse_training_example, raw)
    if example is not None:
        assert isinstance(example.id, str) and isinstance(example.model, str) and isinstance(example.features, dict)


@PROPERTY
@given(_messages())
def test_the_monitoring_summary_parser_returns_a_summary_or_a_reason(raw):
    message = _parses_or_gives_a_reason(parse_monitoring_message, raw)
    if message is not None:
        assert isinstance(message["model"], str) and isinstance(message["summary"], dict)


@st.composite
def _drift_records(draw):
    """drift-events records with the three required strings and hostile values everywhere else."""
    pairs = [('"model"', '"m"'), ('"kind"', draw(st.sampled_from(
        ['"data_drift"', '"feature_drift"', '"prediction_drift"', '"concept_drift"', '"deployed"', '"rolled_back"',
         '"challenger_discarded"', '"challenger_registered"', '"retrain_started"', '"other"']))), ('"id"', '"w1:x"')]
    for key in draw(st.lists(st.sampled_from(['"ts"', '"version"', '"drifted_columns"', '"n_drifted"', '"n_columns"',
                                              '"metrics"', '"detector"', '"position"', '"from_version"', '"to_version"',
                                              '"reason"', '"spec"']), unique=True)):
        pairs.append((key, draw(_json_texts)))
    return _object(pairs).encode("utf-8", "surrogatepass")


@PROPERTY
@given(st.one_of(_messages(), _drift_records()))
def test_a_drift_record_parses_or_gives_a_reason_and_every_parsed_one_makes_an_alert(raw):
    """What the deployment triggers and the alerts agent read: any record that parses must also
    become an alert body, a Slack line and a log line without raising (a sender stuck on one
    record would hold back every later alert of its endpoint)."""
    record = _parses_or_gives_a_reason(parse_drift_record, raw)
    if record is not None:
        assert all(isinstance(record[k], str) for k in ("model", "kind", "id"))
        assert json.loads(alert_body(record, 2, "a", "b"))["data"]["id"] == record["id"]
        assert json.loads(slack_body(record, 1, "a", "a"))["text"].startswith("Driftline: ")
        assert isinstance(describe(record, 3), str)


@pytest.fixture(scope="module")
def scorer():
    from river import linear_model, preprocessing

    meta = {"name": "m", "task": "binary_classification", "classes": [False, True],
            "schema": {"features": {"x": "number", "c": "string"}, "nullable": []}}
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for i in range(50):
        model.learn_one({"x": float(i)}, i > 25)

    class Cache:
        predictors = {"m": Predictor.from_artifact(Artifact(metadata=meta, model=model), version=1)}
        known = {"m"}
        load_errors: dict = {}

    return Scorer(Cache(), default_model="m", max_event_bytes=65536)


@PROPERTY
@given(st.lists(_messages(), min_size=1, max_size=5))
def test_every_message_of_a_batch_becomes_exactly_one_output(scorer, raws):
    messages = [Message(b"k%d" % i, raw, "events", 0, i) for i, raw in enumerate(raws)]
    parsed = scorer.parse(messages)
    outputs = scorer.score(messages, parsed)
    assert len(outputs) == len(messages)
    for message, output in zip(messages, outputs):
        value = json.loads(output.value)
        if output.ok:
            assert output.key.decode("utf-8") == value["id"]
            if output.example is not None:  # what the learn agent will read back, and validate again
                example = parse_training_example(output.example)
                assert example.id == value["id"] and scorer.cache.predictors["m"].schema.validate(example.features)
        else:
            assert value["reason"] in REASONS and value["offset"] == message.offset
            assert base64.b64decode(value["raw"]) == message.value[:65536]


def test_the_poison_of_the_report_is_dead_lettered_not_raised(scorer):
    """The message that stopped scoring: 40 KB of nesting between two good events."""
    poison = b"[" * 20_000 + b"]" * 20_000
    good = json.dumps({"id": "g1", "features": {"x": 1.0, "c": "a"}}).encode()
    messages = [Message(b"g0", good, "events", 0, 0), Message(b"p", poison, "events", 0, 1), Message(b"g1", good, "events", 0, 2)]
    outputs = scorer.score(messages, scorer.parse(messages))
    assert [o.ok for o in outputs] == [True, False, True]
    assert json.loads(outputs[1].value)["reason"] == "unprocessable"


def test_a_dead_letter_keeps_at_most_64_kib_of_a_huge_message(scorer):
    raw = b'{"id": "big", "pad": "' + b"x" * 2_000_000 + b'"}'
    [output] = scorer.score([Message(b"big", raw, "events", 0, 0)], scorer.parse([Message(b"big", raw, "events", 0, 0)]))
    letter = json.loads(output.value)
    assert letter["reason"] == "oversized" and letter["raw_size"] == len(raw) and letter["raw_truncated"] is True
    assert base64.b64decode(letter["raw"]) == raw[:65536] and len(output.value) < 100_000


# The batch fallback ------------------------------------------------------------------------------
def test_a_batch_whose_processing_raises_for_one_message_dead_letters_only_that_message(scorer, monkeypatch):
    import stream.serving.scoring as scoring

    real = scoring.prediction_record

    def buggy(event, *args, **kwargs):  # a bug in the batch code that one event triggers
        if event.id == "bad":
            raise KeyError("surprise")
        return real(event, *args, **kwargs)

    monkeypatch.setattr(scoring, "prediction_record", buggy)
    ids = ["a", "b", "bad", "c"]
    messages = [Message(i.encode(), json.dumps({"id": i, "features": {"x": 1.0, "c": "z"}}).encode(), "events", 2, n)
                for n, i in enumerate(ids)]
    guard = Isolation("score")
    parts = guard.run(list(zip(messages, scorer.parse(messages))), scorer.score_items, scorer.failed)
    outputs = [o for part in parts for o in part]
    assert [o.ok for o in outputs] == [True, True, False, True]
    letter = json.loads(outputs[2].value)
    assert (letter["reason"], letter["partition"], letter["offset"]) == ("processing_error", 2, 2)
    assert letter["detail"] == "KeyError: 'surprise'"
    assert guard.describe()["fallbacks"] == 1 and guard.describe()["processing_errors"] == 1


def test_an_infrastructure_error_is_raised_for_a_retry_never_dead_lettered():
    import redis.exceptions

    guard = Isolation("labels")

    async def redis_away(batch):
        raise redis.exceptions.ConnectionError("Connection refused")

    with pytest.raises(redis.exceptions.ConnectionError):
        asyncio.run(guard.run_async([1, 2], redis_away, lambda item, exc: pytest.fail("dead-lettered")))
    assert guard.describe()["fallbacks"] == 0
    assert is_infrastructure(TimeoutError()) and is_infrastructure(ConnectionResetError())
    assert not is_infrastructure(KeyError("x")) and not is_infrastructure(RecursionError())


class FakeEvent:
    def __init__(self, value: bytes, partition: int, offset: int):
        self.message = Message(b"key", value, "training", partition, offset)
        self.acked = False

    def ack(self):
        self.acked = True


def _learners_of_one_model() -> tuple[Learners, ModelLearner]:
    """Learners holding one logistic regression, model ``m``, learned from training partition 0."""
    from river import linear_model, preprocessing

    meta = {"name": "m", "task": "binary_classification", "classes": [False, True],
            "schema": {"features": {"x": "number"}, "nullable": []}}
    learners = Learners(lambda: None, None, True, every_examples=1000, every_seconds=60, window=100)
    learner = ModelLearner("m", "champion", 1, meta, preprocessing.StandardScaler() | linear_model.LogisticRegression())
    learners.learners[("m", "champion")] = learner
    learners.partition_of["m"] = 0
    return learners, learner


def test_a_training_example_that_breaks_the_learner_is_dead_lettered_and_learning_goes_on(monkeypatch):
    """The learn agent's fallback: the event whose learning raises is dead-lettered (acked once the
    dead letter is sent); the others are learned."""
    learners, learner = _learners_of_one_model()
    real_ensure = learners.ensure

    async def ensure(name, partition):  # a bug that one example's model name triggers
        if name == "boom":
            raise AttributeError("a learner bug")
        return await real_ensure(name, partition)

    monkeypatch.setattr(learners, "ensure", ensure)

    def example(i, model):
        return FakeEvent(json.dumps({"id": f"e{i}", "model": model, "version": 1, "features": {"x": float(i)},
                                     "label": i % 2 == 0}).encode(), 0, i)

    events = [example(0, "m"), example(1, "boom"), FakeEvent(b"\xff not json", 0, 2), example(3, "m")]
    guard = Isolation("learn")
    asyncio.run(guard.run_async(events, learners.learn_batch, learners.reject))
    assert learner.n_learned == 2 and guard.describe()["fallbacks"] == 1
    assert dict(learners.deadletters.deadlettered) == {"processing_error": 1, "invalid_json": 1}
    sent = []

    async def send(records):
        sent.extend(records)

    asyncio.run(learners.deadletters.flush(send))
    assert sorted((json.loads(v)["offset"], json.loads(v)["reason"]) for _, v in sent) == [(1, "processing_error"), (2, "invalid_json")]
    assert events[1].acked and events[2].acked and not events[0].acked  # learned ones wait for a snapshot


def test_offsets_of_a_training_partition_that_never_reach_the_learn_agent_are_counted_and_named(caplog):
    """Every offset of a training partition is a message the learn agent receives, learned or
    passed over; a jump forward between two received events means examples that are not learned
    here, which the learners count and log instead of losing them silently. A replay (offsets going
    back) and a partition seen for the first time are not jumps."""
    learners, learner = _learners_of_one_model()

    def example(partition, offset, model="m"):
        return FakeEvent(json.dumps({"id": f"e{partition}-{offset}", "model": model, "version": 1, "features": {"x": float(offset)},
                                     "label": offset % 2 == 0}).encode(), partition, offset)

    first = [example(0, 10), example(0, 11), FakeEvent(b"not json", 0, 12), example(0, 13), example(1, 40)]
    asyncio.run(learners.learn_batch(first))
    assert learners.offsets_missed == 0 and learner.n_learned == 4
    with caplog.at_level("WARNING", logger="stream.learning.learners"):
        asyncio.run(learners.learn_batch([example(0, 11), example(0, 14), example(0, 17), example(0, 18)]))
    assert learners.offsets_missed == 2 and learner.n_learned == 7  # 15 and 16 missed; 11 was a replay
    assert "offsets 15 to 16 never reached the learn agent" in caplog.text
    learners.drop_partitions({0})  # a rebalance: the partition comes back from where the group committed
    learners.learners[("m", "champion")] = learner  # (restored from its checkpoint)
    learners.partition_of["m"] = 0
    asyncio.run(learners.learn_batch([example(0, 30)]))
    assert learners.offsets_missed == 2 and learner.n_learned == 8
