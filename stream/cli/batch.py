"""CLI commands for models outside the stream: ``predict`` (batch files), ``export``, ``edge-bundle``.

Registered on the ``driftline`` group by :mod:`stream.cli`, whose group turns Driftline's errors
into ``Error: ...`` and exit code 1. Heavy modules (pandas, pyarrow, River, Redis) are imported
inside the commands, so that ``driftline --help`` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .common import settings_of

MODEL_REF = "NAME[@ALIAS|@VERSION]"


def parse_model_ref(ref: str) -> tuple[str, str]:
    """``NAME@REF`` into its name and its alias or version (default ``champion``).

    >>> parse_model_ref("churn"), parse_model_ref("churn@challenger"), parse_model_ref("churn@3")
    (('churn', 'champion'), ('churn', 'challenger'), ('churn', '3'))
    """
    name, sep, version = ref.rpartition("@")
    if not sep:
        return ref, "champion"
    if not name or not version:
        raise click.BadParameter(f"expected {MODEL_REF}, got {ref!r}", param_hint="--model")
    return name, version


@dataclass(frozen=True)
class Fetched:
    """A registry artifact's bytes and where they came from."""

    data: bytes
    name: str
    version: int
    snapshot: int | None = None  # revision of the learner's snapshot; None: the artifact as deployed
    n_learned: int = 0

    def describe(self) -> str:
        """
        >>> Fetched(b"", "churn", 3, snapshot=12, n_learned=4500).describe()
        'churn version 3 + 4,500 examples learned online (snapshot 12)'
        """
        text = f"{self.name} version {self.version}"
        if self.snapshot is not None:
            text += f" + {self.n_learned:,} examples learned online (snapshot {self.snapshot})"
        return text


def fetch_artifact(settings, ref: str, *, deployed: bool = False) -> Fetched:
    """The registry's artifact for ``NAME[@ALIAS|@VERSION]``.

    An alias gives what that alias serves now: the workers score a champion with its learner's
    latest snapshot (the deployed model plus what it learned online from labels), so batch
    prediction and export take that snapshot too, or the same rows would get other answers than
    in the stream. A version number, or ``deployed``, gives the artifact exactly as deployed.
    """
    import redis

    from stream.errors import RegistryError
    from stream.registry.registry import Registry

    name, version_ref = parse_model_ref(ref)
    registry = Registry.from_url(settings.redis_url)
    try:
        version = registry.resolve(name, version_ref)
        if not deployed and not version_ref.isdigit():
            snapshot = registry.fetch_snapshot(name, version_ref)
            # Only a snapshot taken from the alias's current version, as the workers require.
            if snapshot is not None and int(snapshot[0]["version"]) == version:
                info, data, _ = snapshot
                return Fetched(data, name, version, int(info["revision"]), int(info.get("n_learned", 0)))
        return Fetched(registry.fetch(name, version), name, version)
    except redis.RedisError as exc:
        raise RegistryError(f"cannot reach the registry at {settings.redis_url} (DRIFTLINE_REDIS_URL): {exc}") from exc


@click.command()
@click.option("--artifact", "artifact_path", type=click.Path(exists=True, dir_okay=False), help="Score with this artifact file.")
@click.option("--model", "model_ref", metavar=MODEL_REF, help="Score with a registered model (default alias: champion).")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="CSV, JSONL or Parquet file of feature rows.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False), help="File of predictions (CSV, JSONL or Parquet).")
@click.option("--input-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None, help="Default: from the input's suffix.")
@click.option("--output-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None, help="Default: from the output's suffix.")
@click.option("--id-column", default="id", show_default=True, help="Input column copied to the output (else the row number is).")
@click.option("--rejected", "rejected_path", type=click.Path(dir_okay=False), default=None, help="JSONL file of rejected rows with their reasons. [default: OUTPUT.rejected.jsonl]")
@click.option("--chunk-size", default=20_000, show_default=True, type=click.IntRange(min=1), help="Rows read, scored and written at a time.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@click.option("--deployed", is_flag=True, help="With an alias: the artifact as deployed, without what the model learned online since.")
@click.pass_context
def predict(ctx, artifact_path, model_ref, input_path, output_path, input_format, output_format, id_column, rejected_path, chunk_size, quiet, deployed) -> None:
    """Score a file of rows with an artifact or a registered model (batch prediction).

    Rows are validated and predicted exactly as the stream does; rows it would dead-letter go to
    the rejected file. With an alias (the default: champion) the model is the one the workers
    serve, including what it learned online; a version number (or --deployed) scores with the
    artifact as deployed. Exits non-zero only when no row could be scored or the input cannot be
    read.
    """
    from stream.batch.predict import ProgressLine, predict_file
    from stream.model import artifact
    from stream.model.predictor import Predictor

    if (artifact_path is None) == (model_ref is None):
        raise click.UsageError("pass exactly one of --artifact FILE and --model " + MODEL_REF)
    settings = settings_of(ctx)
    key, allow_unsigned = settings.signing_key_bytes(), settings.allow_unsigned
    if artifact_path is not None:
        predictor = Predictor.from_artifact(artifact.read(artifact_path, key, allow_unsigned=allow_unsigned))
        source = artifact_path
    else:
        fetched = fetch_artifact(settings, model_ref, deployed=deployed)
        loaded = artifact.loads(fetched.data, key, allow_unsigned=allow_unsigned)
        predictor = Predictor.from_artifact(loaded, version=fetched.version, snapshot=fetched.snapshot)
        source = fetched.describe()
    click.echo(f"scoring {input_path} with {source} ({predictor.task})", err=True)
    progress = None if quiet else ProgressLine(sys.stderr)
    summary = predict_file(
        predictor, input_path, output_path, input_format=input_format, output_format=output_format,
        id_column=id_column, rejected_path=rejected_path, chunk_rows=chunk_size, progress=progress,
    )
    if progress is not None:
        progress.finish(summary.rows)
    click.echo(summary.describe())
    if summary.scored == 0:
        why = "the input has no rows" if summary.rows == 0 else f"all {summary.rows:,} rows were rejected (see {summary.rejected_path})"
        raise click.ClickException(f"nothing could be scored: {why}")


@click.command()
@click.option("--model", "model_ref", required=True, metavar=MODEL_REF, help="Registered model (default alias: champion).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Artifact file to write.")
@click.option("--compact", is_flag=True, help="Write the compact edge artifact (prediction only; the registry refuses it).")
@click.option("--deployed", is_flag=True, help="With an alias: the artifact as deployed, without what the model learned online since.")
@click.pass_context
def export(ctx, model_ref, out, compact, deployed) -> None:
    """Write a registered model's artifact to a file, full or compact, and show both sizes.

    With an alias (the default: champion) the model is the one the workers serve, including what
    it learned online (its latest snapshot, given back its version's drift baseline, which
    snapshots do not repeat, and signed again); a version number (or --deployed) gives the
    artifact as deployed, the registry's bytes unchanged. The compact one drops the
    baseline and the state only learning needs, keeps identical predictions, is compressed as
    tightly as possible and is signed again with DRIFTLINE_SIGNING_KEY.
    """
    from stream.model import artifact
    from stream.model.compact import compact as compact_artifact

    settings = settings_of(ctx)
    key = settings.signing_key_bytes()
    fetched = fetch_artifact(settings, model_ref, deployed=deployed)
    data = fetched.data
    # Verify before anything: only a trusted artifact is unpickled, and so re-signed.
    loaded = artifact.loads(data, key, allow_unsigned=settings.allow_unsigned)
    if fetched.snapshot is not None and not loaded.baseline:
        loaded = _with_version_baseline(settings, loaded, fetched)
        data = artifact.dumps(loaded, key)
    small = compact_artifact(loaded, version=fetched.version, compacted_from={"sha256": artifact.digest(data), "size": len(data)})
    small_bytes = artifact.dumps(small, key, compact=True)
    Path(out).write_bytes(small_bytes if compact else data)
    dropped = small.metadata["compaction"]["dropped"]
    click.echo(f"{fetched.describe()}: full artifact {len(data):,} bytes, compact {len(small_bytes):,} bytes ({len(small_bytes) / len(data):.1%} of full)")
    click.echo("compact drops: " + (", ".join(f"{what} ({count:,})" for what, count in dropped.items()) or "nothing but the layout (this model type carries no training-only state)"))
    signed = "signed" if key else "unsigned"
    click.echo(f"wrote {out} ({'compact' if compact else 'full'}, {signed}, {len(small_bytes if compact else data):,} bytes)")


def _with_version_baseline(settings, loaded, fetched: Fetched):
    """A snapshot with its version's drift baseline (kept once per version, not per snapshot)."""
    import dataclasses

    from stream.model import artifact
    from stream.registry.registry import Registry

    deployed = Registry.from_url(settings.redis_url).fetch(fetched.name, fetched.version)
    baseline = artifact.read_baseline(deployed, settings.signing_key_bytes(), allow_unsigned=settings.allow_unsigned)
    return dataclasses.replace(loaded, baseline=baseline)


@click.command("edge-bundle")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write the runtime into.")
def edge_bundle(out_dir) -> None:
    """Copy the edge runtime (standard library + River only) into OUT/stream/ for a device."""
    from stream.model.edge import write_bundle

    written = write_bundle(out_dir)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"on the device: pip install -r {Path(out_dir) / 'requirements.txt'}; then in {out_dir}: "
        "DRIFTLINE_SIGNING_KEY=... python -m stream.edge MODEL.dla < rows.jsonl > predictions.jsonl"
    )


__all__ = ["predict", "export", "edge_bundle", "parse_model_ref", "fetch_artifact", "Fetched"]
