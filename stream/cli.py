"""The ``driftline`` command line.

Every command reads the one :class:`~stream.settings.Settings` object (``DRIFTLINE_*`` variables)
and turns Driftline's own errors into a one-line message and exit code 1; heavy modules are
imported inside the commands so that ``driftline --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .errors import DriftlineError
from .settings import Settings


class _Group(click.Group):
    """Reports DriftlineError as ``error: ...`` instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DriftlineError as exc:
            raise click.ClickException(str(exc)) from exc


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


@click.group(cls=_Group)
@click.version_option(package_name="driftline")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Driftline: streaming online prediction and drift monitoring for River models on Kafka."""
    try:
        ctx.obj = Settings.from_env()
    except DriftlineError as exc:
        raise click.ClickException(str(exc)) from exc


# Embedded stack ------------------------------------------------------------------------------------
@main.group(cls=_Group)
def dev() -> None:
    """The embedded single-machine stack: a Tansu Kafka broker and redis-server on loopback."""


@dev.command("up")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for both to answer.")
@click.pass_context
def dev_up(ctx: click.Context, timeout: float) -> None:
    """Start the broker and Redis in the background and create the topics."""
    from .devstack import EmbeddedStack
    from .topics import ensure_topics

    settings = _settings(ctx)
    statuses = EmbeddedStack(settings, log=lambda m: click.echo(m, err=True)).up(timeout=timeout)
    created = ensure_topics(settings)
    for status in statuses:
        click.echo(f"{status.name:7} {status.address:28} pid {status.pid}")
    if created:
        click.echo(f"topics created ({settings.partitions} partitions): {', '.join(created)}")
    click.echo(f"export DRIFTLINE_BROKER={settings.broker} DRIFTLINE_REDIS_URL={settings.redis_url}")
    click.echo("stop with: driftline dev down")


@dev.command("status")
@click.pass_context
def dev_status(ctx: click.Context) -> None:
    """Show whether the embedded broker and Redis run and answer."""
    from .devstack import EmbeddedStack

    statuses = EmbeddedStack(_settings(ctx)).status()
    for s in statuses:
        state = "answering" if s.answering else ("running, not answering" if s.running else "stopped")
        click.echo(f"{s.name:7} {s.address:28} {state}" + (f" (pid {s.pid})" if s.pid else ""))
    if not all(s.answering for s in statuses):
        sys.exit(1)


@dev.command("down")
@click.pass_context
def dev_down(ctx: click.Context) -> None:
    """Stop exactly what ``driftline dev up`` started."""
    from .devstack import EmbeddedStack

    stopped = EmbeddedStack(_settings(ctx), log=lambda m: click.echo(m, err=True)).down()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


# Train, deploy, models -----------------------------------------------------------------------------
@main.command()
@click.option("--dataset", required=True, help="A River bundled data set (phishing, bananas, imagesegments, shuttle, trumpapproval, chickweights) or a CSV/JSONL/Parquet file.")
@click.option("--target", default=None, help="Target column of a file (default: target, label or y).")
@click.option("--model", "spec", required=True, help="Model spec: logreg, hoeffding-tree, arf, gaussian-nb, linreg (details: driftline specs).")
@click.option("--name", required=True, help="Model name in the registry and on events.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Artifact file to write.")
@click.option("--holdout", default=0.2, show_default=True, help="Share of rows kept out to measure the model.")
@click.option("--seed", default=42, show_default=True)
@click.option("--unsigned", is_flag=True, help="Write an unsigned artifact (only loadable with DRIFTLINE_ALLOW_UNSIGNED).")
@click.pass_context
def train(ctx, dataset, target, spec, name, out, holdout, seed, unsigned) -> None:
    """Train a River model on a data set and export a signed artifact."""
    from . import artifact
    from .baseline import describe as describe_baseline
    from .datasets import load_dataset
    from .training import train as train_model

    settings = _settings(ctx)
    key = settings.signing_key_bytes()
    if key is None and not unsigned:
        raise click.ClickException("DRIFTLINE_SIGNING_KEY is not set: set it to sign the artifact, or pass --unsigned")
    data = load_dataset(dataset, target=target)
    click.echo(f"{data.name}: {len(data.rows):,} rows, {data.task}, target {data.target!r}", err=True)
    started = time.monotonic()
    trained = train_model(data, spec, name, holdout=holdout, seed=seed, progress=_progress("training"))
    size = artifact.write(out, trained, None if unsigned else key)
    metrics = trained.metadata.get("metrics", {}).get("holdout", {})
    click.echo(f"trained {spec} in {time.monotonic() - started:.1f}s; hold-out: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    click.echo(describe_baseline(trained.metadata["baseline"]))
    click.echo(f"wrote {out} ({size:,} bytes{', unsigned' if unsigned else ', signed'})")


@main.command()
def specs() -> None:
    """List the model specs that ``driftline train --model`` accepts."""
    from .models import describe

    for line in describe():
        click.echo(line)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--alias", type=click.Choice(["champion", "challenger"]), default="champion", show_default=True)
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.pass_context
def deploy(ctx, file, alias, reason) -> None:
    """Store an artifact in the registry as a new version and point an alias at it."""
    from . import artifact
    from .registry import Registry

    settings = _settings(ctx)
    data = Path(file).read_bytes()
    # Verify before storing: the registry only ever holds artifacts that workers will accept.
    metadata = artifact.read_metadata(data, settings.signing_key_bytes(), allow_unsigned=settings.allow_unsigned)
    registry = Registry.from_url(settings.redis_url)
    version = registry.register(data, metadata, alias=alias, reason=reason or f"driftline deploy {Path(file).name}")
    click.echo(f"deployed {metadata['name']} version {version} as {alias}")


@main.group(cls=_Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx, as_json) -> None:
    """List models with their versions and aliases (``models show NAME`` for one)."""
    if ctx.invoked_subcommand is not None:
        return
    from .registry import Registry

    registry = Registry.from_url(_settings(ctx).redis_url)
    rows = [{"name": n, "versions": [v["version"] for v in registry.versions(n)], "aliases": registry.aliases(n)} for n in registry.models()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models registered (driftline deploy FILE)")
    for row in rows:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(row["aliases"].items())) or "no aliases"
        click.echo(f"{row['name']:24} versions {','.join(map(str, row['versions'])):12} {aliases}")


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_show(ctx, name, as_json) -> None:
    """Show one model: aliases, versions, live learning metrics and the audit log."""
    from .registry import Registry

    info = Registry.from_url(_settings(ctx).redis_url).show(name)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"model {name}")
    click.echo("aliases: " + (", ".join(f"{a} -> v{v}" for a, v in sorted(info["aliases"].items())) or "none"))
    for record in info["versions"]:
        meta = record["metadata"]
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in meta.get("metrics", {}).get("holdout", {}).items())
        click.echo(
            f"  v{record['version']}: {meta.get('model_spec')} {meta.get('task')} on {meta.get('dataset')} "
            f"({meta.get('n_train')} rows) created {meta.get('created_at')}; {metrics}; {record['size']:,} bytes"
        )
    for alias, learned in sorted(info["learning"].items()):
        overall = ", ".join(f"{k} {v:.4f}" for k, v in learned["metrics"]["overall"].items() if v is not None)
        recent = ", ".join(f"{k} {v:.4f}" for k, v in learned["metrics"]["recent"].items() if v is not None)
        click.echo(f"learning {alias} (v{learned['version']}): {learned['n_learned']:,} examples learned; "
                   f"snapshot revision {learned['revision']}, {learned['snapshot_age_seconds']:.0f}s old")
        click.echo(f"  prequential overall: {overall or '-'}")
        click.echo(f"  last {learned['metrics']['window']:,}: {recent or '-'}")
    click.echo("audit:")
    for entry in info["audit"][-20:]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry["ts"])))
        alias = f" {entry['alias']}" if entry.get("alias") else ""
        click.echo(f"  {when} {entry['action']}{alias} v{entry['version']}: {entry['reason']}")


# Worker and replay ---------------------------------------------------------------------------------
@main.command()
@click.pass_context
def worker(ctx) -> None:
    """Run a Faust worker: scores ``events`` into ``predictions`` and serves the HTTP API."""
    import faust

    from .app import create_app
    from .topics import ensure_topics

    settings = _settings(ctx)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings)
    app = create_app(settings)
    faust.Worker(app, loglevel=settings.log_level).execute_from_commandline()


@main.command()
@click.option("--dataset", required=True, help="Bundled data set name or a CSV/JSONL/Parquet file.")
@click.option("--target", default=None, help="Target column of a file.")
@click.option("--model", default=None, help="Model name put on each event (default: none, the worker's default model).")
@click.option("--rate", type=float, default=None, help="Events per second (default: as fast as possible).")
@click.option("--limit", type=int, default=None, help="Number of events (cycles the data set if larger).")
@click.option("--label-delay", type=int, default=None, help="Send each label this many events after its event.")
@click.option("--run-id", default=None, help="Prefix of the event ids (default: random).")
@click.pass_context
def replay(ctx, dataset, target, model, rate, limit, label_delay, run_id) -> None:
    """Stream a data set into ``events`` (and its labels into ``labels``)."""
    from .datasets import load_dataset
    from .replay import progress_bar, replay as run_replay
    from .topics import ensure_topics

    settings = _settings(ctx)
    data = load_dataset(dataset, target=target)
    ensure_topics(settings)
    summary = run_replay(
        settings, data.rows, data.targets, model, rate=rate, limit=limit, label_delay=label_delay,
        run_id=run_id, progress=progress_bar(),
    )
    click.echo(
        f"run {summary.run_id}: {summary.events:,} events, {summary.labels:,} labels in {summary.seconds:.1f}s "
        f"({summary.rate:,.0f} events/s) to {settings.topic('events')}"
    )


@main.command()
@click.option("--events", "n_events", default=20_000, show_default=True, help="Events to stream.")
@click.option("--rate", default=2_000.0, show_default=True, help="Events per second.")
@click.option("--keep", is_flag=True, help="Leave the stack and worker running afterwards.")
@click.pass_context
def demo(ctx, n_events, rate, keep) -> None:
    """Everything on the embedded stack: train, deploy, run a worker, stream, watch predictions."""
    from .demo import run_demo

    sys.exit(run_demo(_settings(ctx), n_events=n_events, rate=rate, keep=keep))


def _progress(label: str):
    def show(done: int, total: int) -> None:
        click.echo(f"\r{label}: {done:,}/{total:,}", nl=done >= total, err=True)

    return show


# Batch prediction, export and the edge runtime live in their own module.
from .commands_batch import edge_bundle, export, predict  # noqa: E402

main.add_command(predict)
main.add_command(export)
main.add_command(edge_bundle)

# Drift monitoring commands live in their own module.
from .commands_monitor import baseline, report  # noqa: E402

main.add_command(baseline)
main.add_command(report)


if __name__ == "__main__":  # pragma: no cover
    main()
