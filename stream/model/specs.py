"""Model specs registered by name: what ``driftline train --model NAME`` builds.

A spec is a name, a description, the tasks it supports and a ``build`` function that turns a
feature schema, a task and the known classes into a fresh River model. An unknown name raises a
``ValueError`` that lists the valid names.

>>> from stream.model.schema import FeatureSchema
>>> schema = FeatureSchema({"age": "number", "city": "string"})
>>> model = get_spec("logreg").build(schema, "binary_classification", ["no", "yes"])
>>> model.learn_one({"age": 30, "city": "Oslo"}, "yes")
>>> sorted(model.predict_proba_one({"age": 30, "city": "Oslo"}))
['no', 'yes']
>>> get_spec("svm")
Traceback (most recent call last):
...
ValueError: unknown model spec 'svm'; valid names: arf, gaussian-nb, hoeffding-tree, linreg, logreg
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from river import (
    base,
    compose,
    forest,
    linear_model,
    multiclass,
    naive_bayes,
    preprocessing,
    tree,
)

from .schema import BOOL, NUMBER, STRING, FeatureSchema

BINARY, MULTICLASS, REGRESSION = "binary_classification", "multiclass_classification", "regression"
CLASSIFICATION = frozenset({BINARY, MULTICLASS})
SEED = 42


@dataclass(frozen=True)
class ModelSpec:
    """A named recipe for a River model."""

    name: str
    description: str
    tasks: frozenset[str]
    build: Callable[[FeatureSchema, str, list], Any]

    def supports(self, task: str) -> bool:
        return task in self.tasks


class SelectPresent(compose.Select):
    """``compose.Select`` that skips absent features.

    The schema drops missing (nullable) features before a model sees them, and River's ``Select``
    raises ``KeyError`` on an absent key. After a ``StandardScaler`` an absent feature contributes
    0 to a linear model, which is mean imputation.

    >>> SelectPresent("a", "b").transform_one({"a": 1, "c": 2})
    {'a': 1}
    """

    def __init__(self, *keys):
        # A tuple, not River's set: a set's order changes with each process's string hashing, and
        # with it the summation order (the last bits) of a linear model's dot product.
        self.keys = tuple(dict.fromkeys(keys))

    def transform_one(self, x):
        return {name: x[name] for name in self.keys if name in x}


class BoolLabelClassifier(base.Classifier):
    """Lets a True/False-only binary classifier learn and predict two arbitrary labels.

    River's ``LogisticRegression`` predicts ``{False: p, True: 1 - p}`` whatever labels it was
    taught (and cannot learn from ``"yes"``). ``classes[1]`` (the second class sorted by ``str``)
    is mapped to True. Defined at module level so that artifacts can pickle it.

    >>> clf = BoolLabelClassifier(linear_model.LogisticRegression(), ["no", "yes"])
    >>> clf.learn_one({"x": 1.0}, "yes")
    >>> clf.predict_one({"x": 1.0}), round(clf.predict_proba_one({"x": 1.0})["yes"], 3)
    ('yes', 0.502)
    """

    def __init__(self, classifier: base.Classifier, classes: Sequence):
        if len(classes) != 2:
            raise ValueError(f"BoolLabelClassifier needs exactly 2 classes, got {list(classes)!r}")
        self.classifier = classifier
        self.classes = list(classes)

    def learn_one(self, x, y, **kwargs):
        self.classifier.learn_one(x, y == self.classes[1], **kwargs)

    def predict_proba_one(self, x, **kwargs):
        proba = self.classifier.predict_proba_one(x, **kwargs)
        return {self.classes[0]: proba.get(False, 0.0), self.classes[1]: proba.get(True, 0.0)}


# Feature preparation --------------------------------------------------------------------------


def prepare(schema: FeatureSchema, scale: bool = True) -> Any:
    """Numeric features (optionally standard-scaled) plus one-hot encoded string and bool features.

    Returns None when the schema has no features. River's linear models and the linear leaves
    of Hoeffding regression trees only accept numbers, hence the encoding.

    >>> print(prepare(FeatureSchema({"x": "number", "c": "string", "b": "bool"})))
    ['x'] | StandardScaler + ['b', 'c'] | OneHotEncoder
    """
    numeric = [n for n, kind in schema.kinds.items() if kind == NUMBER]
    categorical = [n for n, kind in schema.kinds.items() if kind in (STRING, BOOL)]
    branches = []
    if numeric:
        select = SelectPresent(*numeric)
        branches.append(select | preprocessing.StandardScaler() if scale else select)
    if categorical:
        branches.append(SelectPresent(*categorical) | preprocessing.OneHotEncoder())
    if not branches:
        return None
    if len(branches) == 1:
        return branches[0]
    # Joined as built objects: written inline, `a | b + c | d` would parse as `a | (b + c) | d`.
    return branches[0] + branches[1]


def _pipeline(features: Any, model: Any) -> Any:
    return model if features is None else features | model


# Specs -------------------------------------------------------------------------------------------


def _logreg(schema: FeatureSchema, task: str, classes: list) -> Any:
    if task == MULTICLASS:
        model = multiclass.OneVsRestClassifier(linear_model.LogisticRegression())
    elif all(isinstance(c, bool) for c in classes):
        model = linear_model.LogisticRegression()
    else:
        model = BoolLabelClassifier(linear_model.LogisticRegression(), sorted(classes, key=str))
    return _pipeline(prepare(schema), model)


def _hoeffding_tree(schema: FeatureSchema, task: str, classes: list) -> Any:
    if task == REGRESSION:
        # The leaves are linear models: unscaled, TrumpApproval's ordinal dates (~736k) take R2
        # on the hold-out from 0.89 to 0.0.
        return _pipeline(prepare(schema), tree.HoeffdingTreeRegressor())
    # A running scaler would move split thresholds under the tree's feet; splits need no scaling.
    return _pipeline(prepare(schema, scale=False), tree.HoeffdingTreeClassifier())


def _arf(schema: FeatureSchema, task: str, classes: list) -> Any:
    if task == REGRESSION:
        # Its trees have linear leaves too (as hoeffding-tree's regressor): scaled numbers.
        return _pipeline(prepare(schema), forest.ARFRegressor(n_models=10, seed=SEED))
    return _pipeline(prepare(schema, scale=False), forest.ARFClassifier(n_models=10, seed=SEED))


def _gaussian_nb(schema: FeatureSchema, task: str, classes: list) -> Any:
    # Per-class Gaussians are fitted on raw values: a running scaler would blur them.
    return _pipeline(prepare(schema, scale=False), naive_bayes.GaussianNB())


def _linreg(schema: FeatureSchema, task: str, classes: list) -> Any:
    return _pipeline(prepare(schema), linear_model.LinearRegression())


SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "logreg",
            "scaled logistic regression (one-vs-rest for multiclass); fast, a good first baseline",
            frozenset(CLASSIFICATION),
            _logreg,
        ),
        ModelSpec(
            "hoeffding-tree",
            "Hoeffding tree (classifier, or regressor with linear leaves); interpretable splits",
            frozenset({BINARY, MULTICLASS, REGRESSION}),
            _hoeffding_tree,
        ),
        ModelSpec(
            "arf",
            "adaptive random forest, 10 trees, seed 42; often the most accurate, 20-40x slower to learn than logreg",
            frozenset({BINARY, MULTICLASS, REGRESSION}),
            _arf,
        ),
        ModelSpec(
            "gaussian-nb",
            "Gaussian naive Bayes; learns from few examples, assumes independent features",
            frozenset(CLASSIFICATION),
            _gaussian_nb,
        ),
        ModelSpec(
            "linreg",
            "scaled linear regression; fast, a good first baseline",
            frozenset({REGRESSION}),
            _linreg,
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model spec {name!r}; valid names: {', '.join(sorted(SPECS))}") from None


def specs_for(task: str) -> list[str]:
    """Names of the specs that support ``task``.

    >>> specs_for("regression")
    ['arf', 'hoeffding-tree', 'linreg']
    """
    return sorted(name for name, spec in SPECS.items() if spec.supports(task))


_SHORT_TASKS = {BINARY: "binary", MULTICLASS: "multiclass", REGRESSION: "regression"}


def describe() -> list[str]:
    """One line per spec, for ``driftline train --help``.

    >>> print(describe()[0])
    arf             binary, multiclass, regression: adaptive random forest, 10 trees, seed 42; often the most accurate, 20-40x slower to learn than logreg
    """
    width = max(len(name) for name in SPECS) + 1
    lines = []
    for name in sorted(SPECS):
        spec = SPECS[name]
        tasks = ", ".join(_SHORT_TASKS[t] for t in (BINARY, MULTICLASS, REGRESSION) if t in spec.tasks)
        lines.append(f"{name:<{width}} {tasks}: {spec.description}")
    return lines
