"""Batch prediction: every format in and out, rejected rows, the CLI's exit codes, and the same
answers as ``POST /predict`` and the stream on the real stack."""

from __future__ import annotations

import io
import json
import time

import batchdata
import pytest
from click.testing import CliRunner

from stream.batch.predict import ProgressLine, predict_file, score_chunk
from stream.batch.readers import FORMATS, Chunk, read_chunks
from stream.cli import main
from stream.model import artifact
from stream.model.predictor import Predictor
from stream.model.schema import InvalidInput
from stream.training.trainer import train

KEY = b"test-signing-key"
KEY_TEXT = KEY.decode()


@pytest.fixture(scope="module")
def classifier() -> Predictor:
    return Predictor.from_artifact(train(batchdata.classification(), "logreg", "b3-unit-clf"))


@pytest.fixture(scope="module")
def regressor() -> Predictor:
    return Predictor.from_artifact(train(batchdata.regression(), "hoeffding-tree", "b3-unit-reg"))


def rows_and_ids(n: int = 120):
    rows, _, _ = batchdata.mixed_rows(n, seed=11)
    return rows, [f"r{i}" for i in range(n)]


def offline(predictor: Predictor, row: dict) -> dict:
    return predictor.score(row)


@pytest.mark.parametrize("out_fmt", FORMATS)
@pytest.mark.parametrize("in_fmt", FORMATS)
def test_every_format_pair_gives_the_offline_answers_exactly(tmp_path, classifier, in_fmt, out_fmt):
    rows, ids = rows_and_ids()
    source = batchdata.WRITERS[in_fmt](tmp_path / f"in.{in_fmt}", rows, ids)
    summary = predict_file(classifier, source, tmp_path / f"out.{out_fmt}", chunk_rows=50)
    assert (summary.rows, summary.scored, summary.n_rejected) == (120, 120, 0)
    got = batchdata.read_predictions(tmp_path / f"out.{out_fmt}", out_fmt)
    assert list(got) == ids
    for row, id_ in zip(rows, ids):
        assert got[id_] == offline(classifier, row)  # floats and labels exact, "007" stayed a string


@pytest.mark.parametrize(("in_fmt", "out_fmt"), [("parquet", "csv"), ("csv", "parquet"), ("jsonl", "jsonl")])
def test_regression_predictions_are_exact_and_have_no_probabilities(tmp_path, regressor, in_fmt, out_fmt):
    rows, ids = rows_and_ids(60)
    source = batchdata.WRITERS[in_fmt](tmp_path / f"in.{in_fmt}", rows, ids)
    predict_file(regressor, source, tmp_path / f"out.{out_fmt}", chunk_rows=25)
    got = batchdata.read_predictions(tmp_path / f"out.{out_fmt}", out_fmt, regression=True)
    assert got == {id_: offline(regressor, row) for row, id_ in zip(rows, ids)}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_rejected_rows_carry_the_streams_reasons_and_the_rest_is_scored(tmp_path, classifier, fmt):
    clean, ids = rows_and_ids(30)
    dirty = batchdata.dirty_rows(clean[0])
    rows = clean[:10] + [row for row, _ in dirty] + clean[10:]
    ids = [f"r{i}" for i in range(len(rows))]
    for row, reason in dirty:  # the reason the stream gives: the same validation code
        with pytest.raises(InvalidInput) as error:
            classifier.score(row)
        assert error.value.reason == reason
    source = batchdata.WRITERS[fmt](tmp_path / f"in.{fmt}", rows, ids)
    # Small chunks: a text cell in a number column must not turn its chunk's good cells into text.
    summary = predict_file(classifier, source, tmp_path / "out.jsonl", chunk_rows=4)
    assert summary.scored == 30 and dict(summary.rejected) == {"missing_feature": 1, "wrong_type": 2, "not_finite": 1}
    assert batchdata.read_rejected(tmp_path / "out.jsonl.rejected.jsonl") == {10 + i: reason for i, (_, reason) in enumerate(dirty)}

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    for line in (tmp_path / "out.jsonl.rejected.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=refuse)  # strict JSON: the not-finite input is written as text
    got = batchdata.read_predictions(tmp_path / "out.jsonl", "jsonl")
    assert got == {ids[i]: offline(classifier, row) for i, row in enumerate(rows) if not 10 <= i < 14}


def test_unparseable_jsonl_lines_are_rejected_with_their_text(tmp_path, classifier):
    rows, ids = rows_and_ids(3)
    source = batchdata.write_jsonl(tmp_path / "in.jsonl", rows, ids)
    with source.open("a") as handle:
        handle.write("{not json\n\n[1, 2]\n")
    summary = predict_file(classifier, source, tmp_path / "out.csv", rejected_path=tmp_path / "bad.jsonl")
    assert summary.scored == 3 and dict(summary.rejected) == {"invalid_json": 1, "not_an_object": 1}
    rejected = [json.loads(line) for line in (tmp_path / "bad.jsonl").read_text().splitlines()]
    assert [(r["row"], r["reason"], r["input"]) for r in rejected] == [(3, "invalid_json", "{not json"), (4, "not_an_object", "[1, 2]")]


def test_jsonl_lines_shaped_like_events_are_scored_by_their_features(tmp_path, classifier):
    """Events kept from the stream (the wire contract's ``{"id", "model", "features", "label"}``)
    score as they are: their features, keyed by their id; flat rows beside them still work."""
    rows, ids = rows_and_ids(6)
    source = tmp_path / "events.jsonl"
    with source.open("w") as handle:
        for i, (row, id_) in enumerate(zip(rows, ids)):
            line = {"id": id_, "model": "b3-unit-clf", "features": row, "label": True} if i % 2 else {"id": id_} | row
            handle.write(json.dumps(line) + "\n")
        handle.write(json.dumps({"id": "e-bad", "features": {"no_such_feature": 1}}) + "\n")
    summary = predict_file(classifier, source, tmp_path / "out.jsonl")
    assert (summary.scored, dict(summary.rejected)) == (6, {"missing_feature": 1})
    got = batchdata.read_predictions(tmp_path / "out.jsonl", "jsonl")
    assert got == {id_: offline(classifier, row) for row, id_ in zip(rows, ids)}


def test_without_an_id_column_rows_are_numbered(tmp_path, classifier):
    rows, _ = rows_and_ids(5)
    source = batchdata.write_csv(tmp_path / "in.csv", rows)
    summary = predict_file(classifier, source, tmp_path / "out.csv")
    assert summary.key_column == "row" and "keyed by row number" in summary.describe()
    got = batchdata.read_predictions(tmp_path / "out.csv", "csv", key="row")
    assert got == {i: offline(classifier, row) for i, row in enumerate(rows)}


def test_reading_is_chunked_and_reports_progress(tmp_path, classifier):
    rows, ids = rows_and_ids(120)
    source = batchdata.write_parquet(tmp_path / "in.parquet", rows, ids)
    chunks = list(read_chunks(source, "parquet", classifier.schema, "id", 50))
    assert [len(c.rows) for c in chunks] == [50, 50, 20] and [c.start for c in chunks] == [0, 50, 100]
    assert [c.done for c in chunks] == [50 / 120, 100 / 120, 1.0]
    seen = []
    predict_file(classifier, source, tmp_path / "out.csv", chunk_rows=50, progress=lambda rows, done: seen.append(rows))
    assert seen == [50, 100, 120]


def test_progress_line_shows_rows_per_second():
    stream = io.StringIO()
    line = ProgressLine(stream, log_every=0.0)
    line(500, 0.5)
    line.finish(1000)
    first, last = stream.getvalue().splitlines()
    assert "50%" in first and "500 rows" in first and "rows/s" in first
    assert "100%" in last and "1,000 rows" in last


# The command ------------------------------------------------------------------------------------


@pytest.fixture
def artifact_file(tmp_path):
    path = tmp_path / "model.dla"
    artifact.write(path, train(batchdata.classification(), "logreg", "b3-cli"), KEY)
    return path


def run(*args, key=KEY_TEXT):
    return CliRunner().invoke(main, list(map(str, args)), env={"DRIFTLINE_SIGNING_KEY": key})


def test_cli_scores_what_it_can_and_exits_zero(tmp_path, artifact_file):
    clean, _ = rows_and_ids(20)
    rows = clean + [row for row, _ in batchdata.dirty_rows(clean[0])]
    source = batchdata.write_csv(tmp_path / "rows.txt", rows)  # a suffix that needs the override
    result = run("predict", "--artifact", artifact_file, "--input", source, "--input-format", "csv",
                 "--output", tmp_path / "out.parquet", "--quiet")
    assert result.exit_code == 0, result.output
    assert "scored 20 of 24 rows" in result.stdout and "rejected 4" in result.stdout
    assert (tmp_path / "out.parquet.rejected.jsonl").exists()


def test_cli_exits_non_zero_when_nothing_is_scored_or_the_input_is_unreadable(tmp_path, artifact_file):
    clean, _ = rows_and_ids(3)
    all_bad = batchdata.write_jsonl(tmp_path / "bad.jsonl", [row for row, _ in batchdata.dirty_rows(clean[0])])
    result = run("predict", "--artifact", artifact_file, "--input", all_bad, "--output", tmp_path / "a.csv")
    assert result.exit_code == 1 and "nothing could be scored: all 4 rows were rejected" in result.output

    (tmp_path / "empty.csv").write_text("amount,count,city,vip,score\n")
    result = run("predict", "--artifact", artifact_file, "--input", tmp_path / "empty.csv", "--output", tmp_path / "b.csv")
    assert result.exit_code == 1 and "the input has no rows" in result.output

    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    result = run("predict", "--artifact", artifact_file, "--input", tmp_path / "junk.parquet", "--output", tmp_path / "c.csv")
    assert result.exit_code == 1 and "cannot read" in result.output
    assert not (tmp_path / "c.csv").exists() and not list(tmp_path.glob(".c.csv*"))

    result = run("predict", "--artifact", artifact_file, "--input", tmp_path / "missing.csv", "--output", tmp_path / "d.csv")
    assert result.exit_code == 1 and "input file not found" in result.output


def test_cli_refuses_bad_arguments(tmp_path, artifact_file):
    source = batchdata.write_csv(tmp_path / "in.csv", rows_and_ids(3)[0])
    both = run("predict", "--artifact", artifact_file, "--model", "m", "--input", source, "--output", tmp_path / "o.csv")
    neither = run("predict", "--input", source, "--output", tmp_path / "o.csv")
    assert both.exit_code == neither.exit_code == 2 and "exactly one of --artifact" in both.output
    same = run("predict", "--artifact", artifact_file, "--input", source, "--output", source)
    assert same.exit_code == 1 and "three different files" in same.output
    wrong_key = run("predict", "--artifact", artifact_file, "--input", source, "--output", tmp_path / "o.csv", key="other")
    assert wrong_key.exit_code == 1 and "signature does not match" in wrong_key.output
    no_redis = CliRunner().invoke(main, ["predict", "--model", "m@2", "--input", str(source), "--output", str(tmp_path / "o.csv")],
                                  env={"DRIFTLINE_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert no_redis.exit_code == 1 and "cannot reach the registry" in no_redis.output


# Same answers on the real stack ------------------------------------------------------------------


def wait_for_served_snapshot(url: str, model: str, row: dict, revision: int, timeout: float = 60.0) -> None:
    """Wait until the worker scores ``model`` with the learner's snapshot ``revision``."""
    deadline = time.monotonic() + timeout
    served = None
    while time.monotonic() < deadline:
        _, served = batchdata.post(url + "/predict", {"id": "probe", "model": model, "features": row})
        if served.get("snapshot") == revision:
            return
        time.sleep(0.3)
    raise AssertionError(f"the worker still serves {served} instead of snapshot {revision}")


def wait_checkpointed(registry, model: str, n: int, timeout: float = 120.0) -> int:
    """Wait until the learner has checkpointed ``n`` examples and serves that checkpoint; returns its
    revision. Not merely published: a publish is followed by a checkpoint of the same examples, a
    new revision (without more labels nothing is published after the checkpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checkpoint = registry.fetch_checkpoint(model)
        served = registry.snapshot_info(model)
        if checkpoint and checkpoint[0]["n_learned"] >= n and served["revision"] == checkpoint[0]["revision"]:
            return served["revision"]
        time.sleep(0.3)
    raise AssertionError(f"{model}: no checkpoint of {n} examples served within {timeout}s")


@pytest.mark.integration
def test_http_stream_and_batch_give_identical_answers(worker, stack_settings, registry, tmp_path):
    from stream.dev.outputs import OutputWatcher
    from stream.dev.replay import event_ids, new_run_id, replay

    trained = train(batchdata.classification(400), "logreg", "b3-same")
    deployed_blob = artifact.dumps(trained, KEY)
    version = registry.register(deployed_blob, trained.metadata, alias="champion", reason="b3 same answers")

    # The champion keeps learning from labels, and the workers score with what it learned: batch
    # prediction must use that same model, not the artifact as deployed.
    learn_rows, learn_labels, _ = batchdata.mixed_rows(300, seed=31)
    replay(stack_settings, learn_rows, learn_labels, "b3-same", label_delay=0, run_id=new_run_id())
    revision = wait_checkpointed(registry, "b3-same", len(learn_rows))
    wait_for_served_snapshot(worker.url, "b3-same", learn_rows[0], revision)

    clean, _, _ = batchdata.mixed_rows(200, seed=21)
    dirty = batchdata.dirty_rows(clean[0])
    rows = clean + [row for row, _ in dirty]
    run_id = new_run_id()
    ids = event_ids(run_id, len(rows))
    bad_ids = {ids[len(clean) + i]: reason for i, (_, reason) in enumerate(dirty)}

    replay(stack_settings, rows, None, "b3-same", run_id=run_id)
    status, http = batchdata.post(worker.url + "/predict", [{"id": i, "model": "b3-same", "features": r} for i, r in zip(ids, rows)])
    assert status == 200

    batch, rejected = {}, {}
    env = stack_settings.to_env()
    # Each reader and each writer once: csv -> parquet, jsonl -> csv, parquet -> jsonl.
    for in_fmt, out_fmt in (("csv", "parquet"), ("jsonl", "csv"), ("parquet", "jsonl")):
        source_rows = clean if in_fmt == "parquet" else rows  # Parquet columns are typed: no "abc" amounts
        source = batchdata.WRITERS[in_fmt](tmp_path / f"in.{in_fmt}", source_rows, ids[: len(source_rows)])
        output = tmp_path / f"out-{in_fmt}.{out_fmt}"
        result = CliRunner().invoke(main, ["predict", "--model", "b3-same", "--input", str(source), "--output", str(output)], env=env)
        assert result.exit_code == 0, result.output
        assert f"b3-same version {version} + 300 examples learned online (snapshot {revision})" in result.stderr
        batch[in_fmt] = batchdata.read_predictions(output, out_fmt)
        rejected[in_fmt] = {ids[row]: reason for row, reason in batchdata.read_rejected(output.with_name(output.name + ".rejected.jsonl")).items()}

    watcher = OutputWatcher(stack_settings, run_id)
    try:
        assert watcher.wait_for(len(rows), 180), f"only {watcher.total} of {len(rows)} outputs arrived"
    finally:
        watcher.close()

    assert {k: d["reason"] for k, d in watcher.deadletters.items()} == bad_ids
    assert {r["id"]: r["error"]["reason"] for r in http["results"] if "error" in r} == bad_ids
    assert rejected == {"csv": bad_ids, "jsonl": bad_ids, "parquet": {}}
    as_deployed = Predictor.from_artifact(trained)
    changed = 0
    for event_id, row in zip(ids[: len(clean)], clean):
        streamed = watcher.predictions[event_id]
        assert (streamed["version"], streamed["snapshot"]) == (version, revision)
        answer = {"prediction": streamed["prediction"], "proba": streamed["proba"]}
        served = next(r for r in http["results"] if r["id"] == event_id)
        assert {"prediction": served["prediction"], "proba": served["proba"]} == answer
        for fmt in ("csv", "jsonl", "parquet"):
            assert batch[fmt][event_id] == answer, (fmt, event_id)
        changed += as_deployed.score(row) != answer
    assert changed > len(clean) // 2  # online learning moved the answers: the test tells the two apart

    # --deployed (or a version number) scores with the artifact as deployed.
    source = tmp_path / "in.jsonl"
    result = CliRunner().invoke(main, ["predict", "--model", "b3-same", "--deployed", "--input", str(source), "--output", str(tmp_path / "deployed.jsonl")], env=env)
    assert result.exit_code == 0, result.output
    got = batchdata.read_predictions(tmp_path / "deployed.jsonl", "jsonl")
    assert got == {i: as_deployed.score(row) for i, row in zip(ids, clean)}

    # export: the alias gives the snapshot's model with its version's baseline, --deployed the registered bytes.
    learned = CliRunner().invoke(main, ["export", "--model", "b3-same", "--out", str(tmp_path / "learned.dla")], env=env)
    assert learned.exit_code == 0, learned.output
    exported = artifact.loads((tmp_path / "learned.dla").read_bytes(), KEY)
    # The served snapshot's model (its pickle bytes are not stable across a load, its answers are).
    exported_predictor = Predictor.from_artifact(exported)
    for event_id, row in zip(ids[: len(clean)], clean):
        streamed = watcher.predictions[event_id]
        assert exported_predictor.score(row) == {"prediction": streamed["prediction"], "proba": streamed["proba"]}
    assert exported.baseline and exported.baseline == artifact.loads(deployed_blob, KEY).baseline
    as_registered = CliRunner().invoke(main, ["export", "--model", "b3-same", "--deployed", "--out", str(tmp_path / "deployed.dla")], env=env)
    assert as_registered.exit_code == 0, as_registered.output
    assert (tmp_path / "deployed.dla").read_bytes() == deployed_blob


def test_a_rejected_row_does_not_keep_its_chunk_alive(classifier):
    """The error kept for the rejected file must not hold the scoring frame (and so the whole
    chunk) through its traceback: with a bad row in every chunk, memory grew with the file."""
    rows, ids = rows_and_ids(5)
    chunk = Chunk(start=0, rows=rows + [{"nothing": 1}], ids=ids + ["bad"], done=None)
    scored, rejected = score_chunk(classifier, chunk)
    [(row, id_, error, _)] = rejected
    assert (row, id_, error.reason) == (5, "bad", "missing_feature") and len(scored.rows) == 5
    assert error.__traceback__ is None
