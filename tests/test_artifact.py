import pytest
from river import linear_model, preprocessing

from stream.errors import ArtifactError
from stream.model import artifact


def make():
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for i in range(50):
        model.learn_one({"x": float(i)}, i % 2 == 0)
    return artifact.Artifact(metadata={"name": "m", "task": "binary_classification"}, model=model, baseline={"x": [1, 2]})


def test_round_trip_keeps_model_metadata_and_baseline(tmp_path):
    original = make()
    path = tmp_path / "m.dla"
    artifact.write(path, original, b"key")
    loaded = artifact.read(path, b"key")
    assert loaded.metadata["name"] == "m" and loaded.metadata["format_version"] == artifact.FORMAT_VERSION
    assert loaded.baseline == {"x": [1, 2]}
    assert loaded.model.predict_proba_one({"x": 3.0}) == original.model.predict_proba_one({"x": 3.0})


def test_same_content_gives_the_same_bytes():
    a = make()
    assert artifact.dumps(a, b"key") == artifact.dumps(a, b"key")


def test_tampered_payload_is_refused():
    blob = bytearray(artifact.dumps(make(), b"key"))
    blob[-40] ^= 0xFF
    with pytest.raises(ArtifactError, match="signature does not match"):
        artifact.loads(bytes(blob), b"key")


def test_wrong_key_is_refused():
    with pytest.raises(ArtifactError, match="signature does not match"):
        artifact.loads(artifact.dumps(make(), b"key"), b"another")


def test_unsigned_is_refused_unless_explicitly_allowed():
    blob = artifact.dumps(make(), None)
    with pytest.raises(ArtifactError, match="unsigned"):
        artifact.loads(blob, b"key")
    assert artifact.loads(blob, b"key", allow_unsigned=True).metadata["name"] == "m"


def test_signed_artifact_without_a_configured_key_is_refused():
    with pytest.raises(ArtifactError, match="DRIFTLINE_SIGNING_KEY"):
        artifact.loads(artifact.dumps(make(), b"key"), None)


@pytest.mark.parametrize("blob, message", [
    (b"hello", "not a Driftline artifact"),
    (artifact.MAGIC + b"unsigned", "truncated"),
    (artifact.MAGIC + b"md5:abc\nxx", "malformed signature"),
])
def test_garbage_is_refused_with_a_clear_error(blob, message):
    with pytest.raises(ArtifactError, match=message):
        artifact.loads(blob, b"key", allow_unsigned=True)


def test_refusal_happens_before_unpickling(monkeypatch):
    called = []
    monkeypatch.setattr(artifact._Unpickler, "load", lambda self: called.append(1))
    artifact.loads(artifact.dumps(make(), b"key"), b"key")
    assert called == [1]  # the right key unpickles through it
    with pytest.raises(ArtifactError):
        artifact.loads(artifact.dumps(make(), b"key"), b"wrong")
    assert called == [1]


def test_artifacts_written_before_the_layout_by_stage_still_load(monkeypatch):
    """Pickles name a class's module; artifacts and snapshots from before ``stream/`` was laid out
    by stage name ``stream.models`` and ``stream.learner``."""
    import pickle
    import sys

    from stream.learning import learner
    from stream.model import specs
    from stream.model.schema import FeatureSchema

    old_model = specs.prepare(FeatureSchema({"x": "number"}))
    metrics = learner.PrequentialMetrics("binary_classification", [False, True])
    for module, old_name, classes in ((specs, "stream.models", (specs.SelectPresent,)),
                                      (learner, "stream.learner", (learner.PrequentialMetrics,))):
        monkeypatch.setitem(sys.modules, old_name, module)
        for cls in classes:
            monkeypatch.setattr(cls, "__module__", old_name)
    payload = {"model": old_model, "metrics": metrics}
    assert b"stream.models" in pickle.dumps(payload) and b"stream.learner" in pickle.dumps(payload)
    blob = artifact.dumps(artifact.Artifact({"name": "m"}, payload), b"k")
    monkeypatch.undo()
    assert "stream.models" not in sys.modules and specs.SelectPresent.__module__ == "stream.model.specs"
    loaded = artifact.loads(blob, b"k").model
    assert type(loaded["model"]).__name__ == type(old_model).__name__
    assert isinstance(loaded["metrics"], learner.PrequentialMetrics)


def test_compact_uses_lzma_and_is_not_larger():
    a = make()
    assert len(artifact.dumps(a, b"k", compact=True)) <= len(artifact.dumps(a, b"k")) + 200
    assert artifact.loads(artifact.dumps(a, b"k", compact=True), b"k").metadata["name"] == "m"
