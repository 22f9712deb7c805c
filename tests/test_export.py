"""Compact artifacts: identical predictions for every model spec, smaller files, refused by the
registry; and ``driftline export`` against the real registry."""

from __future__ import annotations

import batchdata
import pytest
from click.testing import CliRunner

from stream.cli import main
from stream.errors import RegistryError
from stream.model import artifact
from stream.model.compact import compact, compact_model
from stream.model.predictor import Predictor
from stream.registry.registry import Registry
from stream.training.datasets import load_dataset
from stream.training.trainer import train

KEY = b"test-signing-key"

CASES = [
    ("logreg", "mixed-clf"), ("logreg", "phishing"), ("gaussian-nb", "mixed-clf"),
    ("hoeffding-tree", "mixed-clf"), ("hoeffding-tree", "mixed-reg"), ("arf", "mixed-clf"),
    ("arf", "mixed-reg"), ("linreg", "mixed-reg"),
]
# Most that compact may weigh, as a share of full. Training-only state is most of a Gaussian NB,
# a regression tree or a forest; a linear model has none (tiny files: the metadata decides).
MAX_SHARE = {("gaussian-nb", "mixed-clf"): 0.2, ("hoeffding-tree", "mixed-reg"): 0.5, ("arf", "mixed-clf"): 0.2, ("arf", "mixed-reg"): 0.7}


@pytest.fixture(scope="module")
def datasets():
    return {
        "mixed-clf": batchdata.classification(1500),
        "mixed-reg": batchdata.regression(1500),
        "phishing": load_dataset("phishing"),
    }


@pytest.mark.parametrize(("spec", "data"), CASES)
def test_compact_artifact_predicts_identically(datasets, spec, data):
    dataset = datasets[data]
    full = train(dataset, spec, f"b3-{spec}")
    full.baseline = {"amount": {"sample": [1.0, 2.0]}}  # what drift monitoring adds later
    full_bytes = artifact.dumps(full, KEY)
    small_bytes = artifact.dumps(compact(full, version=3), KEY, compact=True)

    before, after = (Predictor.from_artifact(artifact.loads(b, KEY)) for b in (full_bytes, small_bytes))
    for row in dataset.rows:
        assert after.score(row) == before.score(row)

    meta = after.metadata
    assert meta["compact"] is True and meta["learnable"] is False and meta["version"] == 3
    assert meta["compaction"]["dropped"]["baseline"] == 1
    assert artifact.loads(small_bytes, KEY).baseline == {}
    assert len(small_bytes) <= MAX_SHARE.get((spec, data), 1.05) * len(full_bytes), (len(small_bytes), len(full_bytes))


def test_compacting_copies_the_model_and_the_original_keeps_learning(datasets):
    dataset = datasets["mixed-reg"]
    model = train(dataset, "arf", "b3-copy").model
    small, dropped = compact_model(model)
    assert dropped["forest_training_state"] > 0 and dropped["leaf_split_statistics"] > 0
    row = {k: v for k, v in dataset.rows[0].items() if v is not None}
    model.learn_one(row, 1.0)  # untouched: still has its detectors and splitters
    with pytest.raises(TypeError):
        small.learn_one(row, 1.0)  # no detectors left: this is why compact artifacts are not deployable


def test_registry_and_deploy_refuse_a_compact_artifact(tmp_path, datasets):
    small = compact(train(datasets["mixed-clf"], "logreg", "b3-refused"))
    blob = artifact.dumps(small, KEY, compact=True)
    with pytest.raises(RegistryError, match="compact"):
        Registry(client=None).register(blob, small.metadata)  # refused before touching Redis
    path = tmp_path / "small.dla"
    path.write_bytes(blob)
    result = CliRunner().invoke(main, ["deploy", str(path)], env={"DRIFTLINE_SIGNING_KEY": KEY.decode(), "DRIFTLINE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.exit_code == 1 and "is compact" in result.output and "driftline export without --compact" in result.output


def test_compact_artifact_is_signed_and_verified(datasets):
    blob = artifact.dumps(compact(train(datasets["mixed-clf"], "gaussian-nb", "b3-signed")), KEY, compact=True)
    assert blob.startswith(artifact.MAGIC + b"hmac-sha256:")
    with pytest.raises(Exception, match="signature does not match"):
        artifact.loads(blob, b"another key")


@pytest.mark.integration
def test_export_writes_the_registry_artifact_full_or_compact(registry, stack_settings, tmp_path, datasets):
    dataset = datasets["mixed-reg"]
    trained = train(dataset, "hoeffding-tree", "b3-export")
    full_bytes = artifact.dumps(trained, KEY)
    version = registry.register(full_bytes, trained.metadata, alias="champion", reason="b3 export")
    env = stack_settings.to_env()

    full = CliRunner().invoke(main, ["export", "--model", f"b3-export@{version}", "--out", str(tmp_path / "full.dla")], env=env)
    assert full.exit_code == 0, full.output
    assert (tmp_path / "full.dla").read_bytes() == full_bytes
    small = CliRunner().invoke(main, ["export", "--model", "b3-export", "--out", str(tmp_path / "small.dla"), "--compact"], env=env)
    assert small.exit_code == 0, small.output
    size = (tmp_path / "small.dla").stat().st_size
    assert f"full artifact {len(full_bytes):,} bytes, compact {size:,} bytes" in small.stdout
    assert "leaf_split_statistics" in small.stdout and "wrote" in small.stdout and "compact, signed" in small.stdout

    offline = Predictor.from_artifact(trained)
    exported = Predictor.from_artifact(artifact.read(tmp_path / "small.dla", KEY))
    assert exported.metadata["version"] == version
    assert all(exported.score(row) == offline.score(row) for row in dataset.rows)

    missing = CliRunner().invoke(main, ["export", "--model", "b3-export@challenger", "--out", str(tmp_path / "x.dla")], env=env)
    assert missing.exit_code == 1 and "has no challenger" in missing.output
