"""Compact artifacts for the edge: drop what only the server needs, keep identical predictions.

What a served artifact carries that prediction never reads:

* the ``baseline`` (drift monitoring's reference statistics and samples: a server concern);
* the random number generator of every River probability distribution (a ``random.Random`` of
  ~2.5 kB per Gaussian; only ``sample()`` uses it). Gaussian naive Bayes keeps one per feature and
  class, and every Hoeffding-tree classifier leaf one per feature and class;
* the split statistics (``splitters``) of Hoeffding-tree leaves that predict without them:
  every regression leaf, majority-class leaves, and naive-Bayes(-adaptive) leaves whose
  majority-class vote is currently the one used. The regression trees' E-BST splitters are most
  of such a tree's size;
* the linear model of an adaptive regression leaf that currently predicts with its mean;
* an adaptive random forest's drift and warning detectors and its background trees.

Only types whose prediction code was read (River 0.26) are touched; anything else is kept as it
is. The model is copied first: the original keeps learning. A compact model cannot be trusted to
keep learning (its leaves no longer grow, its forest has no detectors), so compact artifacts are
marked ``learnable: false`` and the registry refuses them.

Standard library and River only.

>>> from river import naive_bayes
>>> nb = naive_bayes.GaussianNB()
>>> for i in range(20):
...     nb.learn_one({"x": float(i)}, i % 2 == 0)
>>> small, dropped = compact_model(nb)
>>> dict(dropped)
{'distribution_random_generators': 2}
>>> small.predict_proba_one({"x": 3.0}) == nb.predict_proba_one({"x": 3.0})
True
"""

from __future__ import annotations

import collections
import pickle
from collections import Counter
from typing import Any

from river import forest, tree
from river.forest.adaptive_random_forest import BaseTreeClassifier, BaseTreeRegressor
from river.proba.base import Distribution
from river.tree.nodes.htc_nodes import (
    LeafMajorityClass,
    LeafNaiveBayes,
    LeafNaiveBayesAdaptive,
)
from river.tree.nodes.htr_nodes import LeafAdaptive, LeafMean

from .artifact import Artifact

# Trees whose predict path is exactly HoeffdingTree{Classifier,Regressor}'s: a leaf's prediction().
_TREES = (tree.HoeffdingTreeClassifier, tree.HoeffdingTreeRegressor, BaseTreeClassifier, BaseTreeRegressor)
_FORESTS = (forest.ARFClassifier, forest.ARFRegressor)
# Forest attributes that only learn_one reads.
_FOREST_TRAINING_STATE = ("_warning_detectors", "_drift_detectors", "_background", "_drift_norm")

# What each count in ``dropped`` means, for people reading an artifact's metadata.
DESCRIPTIONS = {
    "baseline": "drift-monitoring baseline (reference statistics and samples)",
    "distribution_random_generators": "random generators of probability distributions (used only to sample)",
    "leaf_split_statistics": "split statistics of tree leaves that predict without them",
    "unused_leaf_models": "linear models of adaptive regression leaves that predict with their mean",
    "forest_training_state": "drift/warning detectors and background trees of random forests",
}


def compact_model(model: Any) -> tuple[Any, Counter]:
    """A copy of ``model`` without training-only state, and what was dropped (name -> count)."""
    copy = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    dropped: Counter = Counter()
    seen: set[int] = set()
    stack = [copy]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
            stack.extend(obj)
        elif _is_model_object(obj):
            _compact_one(obj, dropped)
            stack.extend(vars(obj).values())
    return copy, dropped


def compact(artifact: Artifact, **extra_metadata: Any) -> Artifact:
    """The compact artifact of ``artifact``: compacted model, no baseline, metadata saying so.

    ``extra_metadata`` is merged into the metadata (the exporter records the registry version).
    """
    model, dropped = compact_model(artifact.model)
    if artifact.baseline:
        dropped["baseline"] = 1
    metadata = dict(artifact.metadata, **extra_metadata)
    metadata.update(
        compact=True,
        learnable=False,
        compaction={
            "dropped": dict(sorted(dropped.items())),
            "meaning": {name: DESCRIPTIONS[name] for name in sorted(dropped)},
        },
    )
    return Artifact(metadata=metadata, model=model, baseline={})


def _is_model_object(obj: Any) -> bool:
    module = type(obj).__module__
    return hasattr(obj, "__dict__") and not isinstance(obj, type) and module.startswith(("river.", "stream."))


def _compact_one(obj: Any, dropped: Counter) -> None:
    if isinstance(obj, Distribution) and getattr(obj, "_rng", None) is not None:
        obj._rng = None
        dropped["distribution_random_generators"] += 1
    elif type(obj) in _TREES and obj._root is not None:
        for leaf in obj._root.iter_leaves():
            _compact_leaf(obj, leaf, dropped)
    elif type(obj) in _FORESTS:
        for name in _FOREST_TRAINING_STATE:
            state = getattr(obj, name, None)
            if state is not None:
                dropped["forest_training_state"] += sum(item is not None for item in state)
                setattr(obj, name, None)


def _compact_leaf(tree_model: Any, leaf: Any, dropped: Counter) -> None:
    if isinstance(leaf, LeafMean):  # regression: stats.mean or the leaf model, never the splitters
        if isinstance(leaf, LeafAdaptive) and leaf._fmse_mean < leaf._fmse_model and leaf._leaf_model is not None:
            leaf._leaf_model = None
            dropped["unused_leaf_models"] += 1
        needed = False
    elif isinstance(leaf, LeafNaiveBayesAdaptive):
        needed = leaf.is_active() and leaf._nb_correct_weight >= leaf._mc_correct_weight
    elif isinstance(leaf, LeafNaiveBayes):
        needed = leaf.is_active() and leaf.total_weight >= tree_model.nb_threshold
    elif isinstance(leaf, LeafMajorityClass):
        needed = False
    else:  # a leaf type whose prediction was not reviewed: keep it whole
        return
    if needed or not leaf.is_active():
        return
    # An inactive leaf predicts from its stats alone, exactly as this one did; the tree's counters
    # stay consistent with the leaves (they only drive memory management).
    leaf.deactivate()
    tree_model._n_active_leaves -= 1
    tree_model._n_inactive_leaves += 1
    dropped["leaf_split_statistics"] += 1
