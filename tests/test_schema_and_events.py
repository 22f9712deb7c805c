import base64
import json

import pytest

from stream.model.schema import FeatureSchema, InvalidInput
from stream.wire.events import deadletter_record, parse_event

SCHEMA = FeatureSchema({"age": "number", "city": "string", "vip": "bool", "score": "number"}, nullable=["score"])
GOOD = {"age": 30, "city": "Oslo", "vip": False}


def reason(fn, *args):
    with pytest.raises(InvalidInput) as error:
        fn(*args)
    return error.value.reason


def test_valid_features_pass_and_extra_ones_are_dropped():
    assert SCHEMA.validate(dict(GOOD, extra=[1])) == GOOD
    assert SCHEMA.validate(dict(GOOD, score=None)) == GOOD
    assert SCHEMA.validate(dict(GOOD, score=float("nan"))) == GOOD  # nullable: NaN is missing


@pytest.mark.parametrize("features, expected", [
    ({"city": "Oslo", "vip": False}, "missing_feature"),
    (dict(GOOD, age=None), "missing_feature"),
    (dict(GOOD, age="30"), "wrong_type"),
    (dict(GOOD, age=True), "wrong_type"),
    (dict(GOOD, city=3), "wrong_type"),
    (dict(GOOD, vip=1), "wrong_type"),
    (dict(GOOD, age=float("nan")), "not_finite"),
    (dict(GOOD, age=float("inf")), "not_finite"),
    (dict(GOOD, age=float("-inf")), "not_finite"),
    ([1, 2], "invalid_field"),
])
def test_each_feature_problem_has_its_reason(features, expected):
    assert reason(SCHEMA.validate, features) == expected


def test_inference_marks_missing_columns_nullable():
    schema = FeatureSchema.infer([{"a": 1, "b": "x"}, {"a": 2.5, "b": None}, {"a": 3, "c": True}])
    assert schema.kinds == {"a": "number", "b": "string", "c": "bool"}
    assert schema.nullable == {"b", "c"}
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


@pytest.mark.parametrize("raw, expected", [
    (b"\xff\xfe", "invalid_json"),
    (b"{", "invalid_json"),
    (None, "invalid_json"),
    (b"[1]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b'{"features": {}}', "missing_id"),
    (b'{"id": "", "features": {}}', "missing_id"),
    (b'{"id": [1], "features": {}}', "missing_id"),
    (b'{"id": 1}', "invalid_field"),
    (b'{"id": 1, "features": 3}', "invalid_field"),
    (b'{"id": 1, "features": {}, "model": 5}', "invalid_field"),
    (b'{"id": 1, "features": {}, "ts": "yesterday"}', "invalid_field"),
])
def test_each_envelope_problem_has_its_reason(raw, expected):
    assert reason(parse_event, raw) == expected


def test_oversized_is_checked_before_parsing():
    assert reason(parse_event, b'{"id": 1, "features": {}}' + b" " * 100, 64) == "oversized"


def test_nan_literal_in_json_reaches_the_schema_check():
    event = parse_event(b'{"id": 1, "features": {"age": NaN, "city": "a", "vip": true}}')
    assert reason(SCHEMA.validate, event.features) == "not_finite"


def test_deadletter_record_carries_the_raw_bytes_and_origin():
    raw = b"\x00not json"
    record = deadletter_record(InvalidInput("invalid_json", "bad"), topic="events", partition=2, offset=41, raw=raw, ts=1.0)
    assert base64.b64decode(record["raw"]) == raw
    assert (record["reason"], record["topic"], record["partition"], record["offset"]) == ("invalid_json", "events", 2, 41)
    json.dumps(record)  # serialisable as it stands


def test_a_dead_letter_names_the_id_and_model_it_could_read():
    from stream.wire.events import deadletter_record, label_from_object, parse_event

    raw = b'{"id": "e-1", "model": "fraud", "features": {}, "ts": "soon"}'
    with pytest.raises(InvalidInput) as bad_event:
        parse_event(raw)
    record = deadletter_record(bad_event.value, topic="events", partition=0, offset=7, raw=raw, ts=1.0)
    assert (record["reason"], record["id"], record["model"]) == ("invalid_field", "e-1", "fraud")
    with pytest.raises(InvalidInput) as bad_label:
        label_from_object({"id": 5, "label": [1], "model": "fraud"})
    record = deadletter_record(bad_label.value, topic="labels", partition=0, offset=8, raw=b"", ts=1.0)
    assert (record["reason"], record["id"], record["model"]) == ("invalid_label", "5", "fraud")
    with pytest.raises(InvalidInput) as no_id:
        parse_event(b'{"features": {}}')
    assert deadletter_record(no_id.value, topic="events", partition=0, offset=9, raw=b"", ts=1.0)["id"] is None


def test_a_null_feature_says_it_is_null_not_missing():
    schema = FeatureSchema({"a": "number", "b": "string"})
    with pytest.raises(InvalidInput) as null:
        schema.validate({"a": None, "b": "x"})
    with pytest.raises(InvalidInput) as missing:
        schema.validate({"b": "x"})
    assert null.value.reason == missing.value.reason == "missing_feature"
    assert "is null" in null.value.detail and "is missing" in missing.value.detail


def test_an_event_time_in_milliseconds_is_read_as_seconds():
    seconds = parse_event(b'{"id": "a", "features": {}, "ts": 1796700848.25}').ts
    millis = parse_event(b'{"id": "a", "features": {}, "ts": 1796700848250}').ts
    assert seconds == millis == 1796700848.25
