"""CLI commands for drift monitoring: ``baseline`` (replace a model's drift baseline from a file)
and ``report`` (an Evidently report of one of a model's drift windows).

Registered on the ``driftline`` group by :mod:`stream.cli`, whose group turns Driftline's errors
into ``Error: ...`` and exit code 1. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

import click

from .batch import MODEL_REF, fetch_artifact, parse_model_ref
from .common import settings_of


def reference_rows(source: str, metadata: dict, rejected: Counter, chunk_rows: int = 20_000) -> Iterator[dict]:
    """Feature rows of a CSV/JSONL/Parquet file read as batch prediction reads them (typed by the
    model's schema, so that "007" stays text in a string column), or of a bundled data set.

    Lines that are not JSON objects are counted in ``rejected`` by reason; the schema's checks
    come later, in :func:`stream.training.baseline.build`.
    """
    from stream.batch.readers import Unparsed, detect_format, read_chunks
    from stream.model.schema import FeatureSchema
    from stream.training.datasets import BUNDLED, load_dataset

    if source.lower() in BUNDLED and not Path(source).is_file():
        yield from load_dataset(source).rows
        return
    schema = FeatureSchema.from_dict(metadata["schema"])
    for chunk in read_chunks(source, detect_format(source), schema, "id", chunk_rows):
        for row in chunk.rows:
            if isinstance(row, Unparsed):
                rejected[row.error.reason] += 1
            else:
                yield row


@click.command()
@click.option("--model", "model_ref", required=True, metavar=MODEL_REF, help="Registered model (default alias: champion).")
@click.option("--from", "source", required=True, help="CSV, JSONL or Parquet file of reference rows (or a bundled data set's name).")
@click.option("--alias", type=click.Choice(["champion", "challenger", "none"]), default=None,
              help="Alias to point at the new version. [default: the alias of --model; none for a version number]")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.option("--seed", default=42, show_default=True, help="Seed of the baseline's row sample.")
@click.pass_context
def baseline(ctx, model_ref, source, alias, reason, seed) -> None:
    """Replace a registered model's drift baseline with one built from a file, as a new version.

    The rows are validated by the model's schema (rows it rejects are left out and counted) and
    scored by the model the alias serves now: its latest learner snapshot when there is one, so
    that what the model learned online is kept. The new artifact is signed, registered as a new
    version with an audit entry, and the alias moves to it.
    """
    from stream.model import artifact
    from stream.registry.registry import Registry
    from stream.training.baseline import describe, with_baseline

    settings = settings_of(ctx)
    key = settings.signing_key_bytes()
    if key is None and not settings.allow_unsigned:
        raise click.ClickException("DRIFTLINE_SIGNING_KEY is not set: it is needed to sign the new version")
    _, ref = parse_model_ref(model_ref)
    if alias is None:
        alias = "none" if ref.isdigit() else ref
    # What the alias serves now: its learner's latest snapshot when there is one.
    fetched = fetch_artifact(settings, model_ref)
    # Verify before anything: only a trusted artifact is unpickled, and so signed again.
    current = artifact.loads(fetched.data, key, allow_unsigned=settings.allow_unsigned)
    # A snapshot's metadata is the deployed one plus its version and what it learned; the new
    # version gets its own number from the registry and says what it was derived from instead.
    metadata = {k: v for k, v in current.metadata.items() if k not in ("learned", "format_version")}
    metadata["version"] = None
    current = artifact.Artifact(metadata=metadata, model=current.model, baseline=current.baseline)

    rejected = Counter()
    rows = reference_rows(source, current.metadata, rejected)
    replaced = with_baseline(current, rows, source=Path(source).name, seed=seed, rejected=rejected)
    replaced.metadata["derived_from"] = {
        "version": fetched.version, "snapshot_revision": fetched.snapshot, "n_learned": fetched.n_learned, "change": "baseline",
    }
    blob = artifact.dumps(replaced, key)
    why = reason or f"driftline baseline --from {Path(source).name}"
    registry = Registry.from_url(settings.redis_url)
    new_version = registry.register(blob, replaced.metadata, alias=None if alias == "none" else alias, reason=why)
    click.echo(f"{fetched.name}: {describe(replaced.metadata['baseline'])}; model: {fetched.describe()}")
    moved = f", now {alias}" if alias != "none" else " (no alias moved)"
    click.echo(f"registered {fetched.name} version {new_version}{moved}")


@click.command()
@click.option("--model", "name", required=True, help="Registered model name.")
@click.option("--window", "window_ref", default="latest", show_default=True, help="Window id (see GET /api/drift/NAME), or latest.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write (HTML, or JSON with --json).")
@click.option("--json", "as_json", is_flag=True, help="Write Evidently's JSON instead of HTML.")
@click.pass_context
def report(ctx, name, window_ref, out, as_json) -> None:
    """Render the Evidently drift report of one of a model's windows against its baseline.

    The window is one the model's monitor stored in Redis (the most recent ones are kept, with
    their bounded row samples); the report compares its sample with the baseline's, with the
    methods and thresholds of the window's drift decision.
    """
    import redis

    from stream.errors import RegistryError
    from stream.monitoring.monitor import BaselineLookup
    from stream.monitoring.rendering import render_window
    from stream.monitoring.store import DriftStore
    from stream.registry.registry import Registry

    settings = settings_of(ctx)
    fmt = "json" if as_json else "html"
    store = DriftStore.from_url(settings.redis_url)
    lookup = BaselineLookup(lambda: Registry.from_url(settings.redis_url), settings.signing_key_bytes(), settings.allow_unsigned)
    try:
        if name not in Registry.from_url(settings.redis_url).models():
            raise RegistryError(f"unknown model {name!r}")
        rendered = render_window(store, lookup, name, window_ref, formats=(fmt,))
    except redis.RedisError as exc:
        raise RegistryError(f"cannot reach Redis at {settings.redis_url} (DRIFTLINE_REDIS_URL): {exc}") from exc
    if rendered is None:
        known = ", ".join(store.window_ids(name, 5)) or "none yet"
        raise click.ClickException(f"model {name!r} has no stored drift window {window_ref!r} (recent windows: {known})")
    record, reports = rendered
    Path(out).write_bytes(reports[fmt])
    features = record["verdicts"]["features"]
    drifted = [c for c, v in features["columns"].items() if v["drifted"]]
    click.echo(f"{name} window {record['id']} ({record['n_rows']:,} events, version {record['version']}): "
               f"data drift {'yes' if features['drifted'] else 'no'} "
               f"({features['n_drifted']}/{features['n_columns']} features drifted{': ' + ', '.join(drifted) if drifted else ''})")
    click.echo(f"wrote {out} ({fmt}, {len(reports[fmt]):,} bytes)")


__all__ = ["baseline", "reference_rows", "report"]
