"""``driftline baseline`` against the real registry (redis-server of the embedded stack): a new,
signed version with the file's baseline, the alias moved, an audit entry; the model the alias
serves is kept, its learner snapshot included."""

from __future__ import annotations

import json

import batchdata
import pytest
from click.testing import CliRunner

from monitors import Baseline
from stream.cli import main
from stream.model import artifact
from stream.model.predictor import Predictor
from stream.training.trainer import train

KEY = b"test-signing-key"


@pytest.fixture(scope="module")
def trained():
    return train(batchdata.classification(800), "logreg", "tbc-model")


def deploy(registry, trained, name: str) -> int:
    deployed = artifact.Artifact(metadata=dict(trained.metadata, name=name), model=trained.model, baseline=trained.baseline)
    return registry.register(artifact.dumps(deployed, KEY), deployed.metadata, alias="champion", reason="test deploy")


def run(stack_settings, *args):
    return CliRunner().invoke(main, ["baseline", *args], env=stack_settings.to_env())


def test_replaces_the_baseline_as_a_new_champion_version(registry, stack_settings, trained, tmp_path):
    name = "tbc-replace"
    first = deploy(registry, trained, name)
    rows, _, _ = batchdata.mixed_rows(700, seed=21)
    rows[5]["amount"] = "lots"  # rejected by the schema, and counted
    path = batchdata.write_jsonl(tmp_path / "recent.jsonl", rows, ids=[f"r{i}" for i in range(700)])
    with path.open("a") as handle:
        handle.write("not json\n")

    result = run(stack_settings, "--model", name, "--from", str(path), "--reason", "new season")
    assert result.exit_code == 0, result.output
    assert f"registered {name} version {first + 1}, now champion" in result.output
    assert "699 rows (rejected: invalid_json 1, wrong_type 1)" in result.output

    assert registry.aliases(name) == {"champion": first + 1}
    loaded = artifact.loads(registry.fetch(name, first + 1), KEY)  # signed with the key
    info = loaded.metadata["baseline"]
    assert (info["source"], info["n_rows"]) == ("recent.jsonl", 699)
    baseline = Baseline.from_dict(loaded.baseline)
    assert baseline.id == info["id"] != trained.metadata["baseline"]["id"]
    assert baseline.n_rows == 699 and baseline.features["city"].stats.n == sum(r["city"] is not None for r in rows)
    assert loaded.metadata["derived_from"] == {"version": first, "snapshot_revision": None, "n_learned": 0, "change": "baseline"}
    assert loaded.metadata["version"] is None and "learned" not in loaded.metadata
    before, after = Predictor.from_artifact(trained), Predictor.from_artifact(loaded)
    assert all(before.score(row) == after.score(row) for row in rows[:50] if row is not rows[5])

    audit = [entry for entry in registry.audit(name) if entry["version"] == str(first + 1)]
    assert [(e["action"], e.get("alias"), e["reason"]) for e in audit] == [
        ("register", None, "new season"), ("alias", "champion", "new season")]


def test_the_learners_snapshot_is_the_model_kept(registry, stack_settings, trained, tmp_path):
    name = "tbc-snapshot"
    version = deploy(registry, trained, name)
    learned = train(batchdata.classification(800), "logreg", name)  # stands for what was learned online
    learned.model.learn_one({"amount": 500.0, "count": 20, "city": "Oslo", "vip": True, "score": 0.9}, "low")
    learned_metadata = dict(learned.metadata, version=version, learned={"n_learned": 1})  # as the learner writes it
    snapshot = artifact.dumps(artifact.Artifact(learned_metadata, learned.model), KEY)
    revision = registry.write_snapshot(name, "champion", version, snapshot, {"n_learned": 1})
    rows, _, _ = batchdata.mixed_rows(300, seed=22)
    path = batchdata.write_csv(tmp_path / "recent.csv", rows)

    result = run(stack_settings, "--model", name, "--from", str(path), "--alias", "challenger")
    assert result.exit_code == 0, result.output
    assert f"model: {name} version {version} + 1 examples learned online (snapshot {revision})" in result.output
    assert registry.aliases(name) == {"champion": version, "challenger": version + 1}
    loaded = artifact.loads(registry.fetch(name, version + 1), KEY)
    assert loaded.metadata["derived_from"] == {"version": version, "snapshot_revision": revision, "n_learned": 1, "change": "baseline"}
    assert loaded.metadata["version"] is None and "learned" not in loaded.metadata
    served = Predictor.from_artifact(loaded)
    assert all(served.score(row) == Predictor.from_artifact(learned).score(row) for row in rows[:50])
    assert any(served.score(row) != Predictor.from_artifact(trained).score(row) for row in rows[:50])  # not the deployed one
    # CSV "007" stays text: the model's schema types the columns, as batch prediction does.
    assert json.loads(json.dumps(loaded.metadata["baseline"]))["rejected"] == {}


def test_refusals(registry, stack_settings, trained, tmp_path):
    name = "tbc-refused"
    deploy(registry, trained, name)
    unknown = run(stack_settings, "--model", "tbc-nobody", "--from", str(tmp_path / "x.csv"))
    assert unknown.exit_code == 1 and "unknown model 'tbc-nobody'" in unknown.output
    path = batchdata.write_jsonl(tmp_path / "bad.jsonl", [{"amount": "x", "count": 1, "city": "Oslo", "vip": True}])
    nothing = run(stack_settings, "--model", name, "--from", str(path))
    assert nothing.exit_code == 1 and "no row can be scored" in nothing.output and "wrong_type (1)" in nothing.output
    missing = run(stack_settings, "--model", name, "--from", str(tmp_path / "absent.csv"))
    assert missing.exit_code == 1 and "not found" in missing.output
    assert registry.aliases(name) == {"champion": 1} and len(registry.versions(name)) == 1
