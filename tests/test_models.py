"""The model spec registry, and one shared check run against every registered spec."""

from __future__ import annotations

import math
import pickle
import random

import pytest
from river import linear_model

from stream.model.schema import FeatureSchema
from stream.model.specs import (
    SPECS,
    BoolLabelClassifier,
    ModelSpec,
    SelectPresent,
    describe,
    get_spec,
    specs_for,
)

TASKS = ("binary_classification", "multiclass_classification", "regression")
SCHEMA = FeatureSchema({"x": "number", "z": "number", "city": "string", "vip": "bool"}, nullable=["z"])
LABELS = {
    "binary_classification": ["no", "yes"],
    "multiclass_classification": ["a", "b", "c"],
    "regression": [],
}


def synthetic(task: str, n: int = 300, seed: int = 7):
    """Mixed-type rows (with a sometimes-absent feature) and labels that depend on them."""
    rng = random.Random(seed)
    for _ in range(n):
        x = {"x": rng.gauss(0, 1), "city": rng.choice(["Lyon", "Oslo", "Rome"]), "vip": rng.random() < 0.3}
        if rng.random() < 0.8:
            x["z"] = rng.uniform(100, 200)  # unscaled on purpose
        signal = x["x"] + (1.0 if x["city"] == "Oslo" else 0.0)
        if task == "regression":
            y = 50.0 + 3 * signal + rng.gauss(0, 0.1)
        elif task == "binary_classification":
            y = "yes" if signal > 0.5 else "no"
        else:
            y = "a" if signal < 0 else "b" if signal < 1 else "c"
        yield x, y


CASES = [(name, task) for name in sorted(SPECS) for task in TASKS if task in SPECS[name].tasks]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_every_spec_builds_learns_and_pickles_for_each_task_it_claims(name, task):
    model = SPECS[name].build(SCHEMA, task, LABELS[task])
    for x, y in synthetic(task):
        model.learn_one(x, y)
    probes = [x for x, _ in synthetic(task, n=20, seed=8)] + [{"x": 0.1, "city": "Paris", "vip": False}]
    copy = pickle.loads(pickle.dumps(model))
    for x in probes:
        if task == "regression":
            prediction = model.predict_one(x)
            assert isinstance(prediction, float) and math.isfinite(prediction)
        else:
            proba = model.predict_proba_one(x)
            assert proba and set(proba) <= set(LABELS[task])
            assert math.isclose(sum(proba.values()), 1.0, abs_tol=1e-6)
            assert copy.predict_proba_one(x) == proba
            prediction = model.predict_one(x)
            assert prediction in LABELS[task]
        assert copy.predict_one(x) == prediction


@pytest.mark.parametrize(("name", "task"), CASES)
def test_every_spec_is_deterministic(name, task):
    # Seeded randomness: two builds taught the same stream agree exactly.
    first = SPECS[name].build(SCHEMA, task, LABELS[task])
    second = SPECS[name].build(SCHEMA, task, LABELS[task])
    for x, y in synthetic(task, n=150):
        first.learn_one(x, y)
        second.learn_one(x, y)
    for x, _ in synthetic(task, n=20, seed=9):
        assert first.predict_one(x) == second.predict_one(x)


def test_unsupported_tasks_are_declared():
    assert specs_for("regression") == ["arf", "hoeffding-tree", "linreg"]
    assert specs_for("binary_classification") == ["arf", "gaussian-nb", "hoeffding-tree", "logreg"]
    assert all(isinstance(spec, ModelSpec) and spec.tasks <= set(TASKS) for spec in SPECS.values())


def test_unknown_spec_lists_valid_names():
    with pytest.raises(ValueError) as info:
        get_spec("xgboost")
    for name in SPECS:
        assert name in str(info.value)
    assert get_spec("logreg") is SPECS["logreg"]


def test_describe_has_one_line_per_spec():
    lines = describe()
    assert [line.split()[0] for line in lines] == sorted(SPECS)
    assert all(SPECS[line.split()[0]].description in line for line in lines)


def test_logreg_keeps_bool_labels_native_and_wraps_others():
    bool_model = get_spec("logreg").build(SCHEMA, "binary_classification", [False, True])
    assert isinstance(bool_model[-1], linear_model.LogisticRegression)
    int_model = get_spec("logreg").build(SCHEMA, "binary_classification", [1, 0])
    assert isinstance(int_model[-1], BoolLabelClassifier) and int_model[-1].classes == [0, 1]
    for i in range(50):
        int_model.learn_one({"x": float(i % 2), "city": "Lyon", "vip": True}, i % 2)
    assert int_model.predict_one({"x": 1.0, "city": "Lyon", "vip": True}) == 1
    assert int_model.predict_one({"x": 0.0, "city": "Lyon", "vip": True}) == 0


def test_bool_label_classifier_rejects_other_than_two_classes():
    with pytest.raises(ValueError, match="exactly 2 classes"):
        BoolLabelClassifier(linear_model.LogisticRegression(), ["a", "b", "c"])


def test_select_present_keeps_declared_order_and_skips_absent_keys():
    select = SelectPresent("b", "a", "c")
    assert list(select.transform_one({"a": 1, "b": 2, "d": 4})) == ["b", "a"]
    assert pickle.loads(pickle.dumps(select)).keys == ("b", "a", "c")


def test_a_schema_without_features_still_builds():
    model = get_spec("linreg").build(FeatureSchema({}), "regression", [])
    model.learn_one({}, 3.0)
    assert isinstance(model.predict_one({}), float)
