import pytest
from river import linear_model, preprocessing

from stream import artifact
from stream.errors import ArtifactError


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
    import pickle

    called = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: called.append(1))
    with pytest.raises(ArtifactError):
        artifact.loads(artifact.dumps(make(), b"key"), b"wrong")
    assert called == []


def test_compact_uses_lzma_and_is_not_larger():
    a = make()
    assert len(artifact.dumps(a, b"k", compact=True)) <= len(artifact.dumps(a, b"k")) + 200
    assert artifact.loads(artifact.dumps(a, b"k", compact=True), b"k").metadata["name"] == "m"
