"""``driftline train``, ``specs``, ``deploy`` and ``models``: from data to a registered model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .common import Group, progress, settings_of


@click.command()
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
    from stream.model import artifact
    from stream.model.specs import get_spec
    from stream.training.baseline import describe as describe_baseline
    from stream.training.datasets import load_dataset
    from stream.training.trainer import train as train_model

    settings = settings_of(ctx)
    key = settings.signing_key_bytes()
    if key is None and not unsigned:
        raise click.ClickException("DRIFTLINE_SIGNING_KEY is not set: set it to sign the artifact, or pass --unsigned")
    # What can be checked before the data is read and the model trained, is.
    for param, check in (("--model", lambda: get_spec(spec)), ("--name", lambda: artifact.check_model_name(name))):
        try:
            check()
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=param) from None
    if not 0.0 <= holdout < 1.0:
        raise click.BadParameter(f"the share kept out must be at least 0 and below 1, got {holdout}", param_hint="--holdout")
    if not Path(out).resolve().parent.is_dir():
        raise click.BadParameter(f"the folder of {out} does not exist", param_hint="--out")
    data = load_dataset(dataset, target=target)
    click.echo(f"{data.name}: {len(data.rows):,} rows, {data.task}, target {data.target!r}", err=True)
    started = time.monotonic()
    try:
        trained = train_model(data, spec, name, holdout=holdout, seed=seed, progress=progress("training"))
    except ValueError as error:  # e.g. a spec that does not support the data set's task
        raise click.ClickException(str(error)) from None
    try:
        size = artifact.write(out, trained, None if unsigned else key)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from None
    metrics = trained.metadata.get("metrics", {}).get("holdout", {})
    click.echo(f"trained {spec} in {time.monotonic() - started:.1f}s; hold-out: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    click.echo(describe_baseline(trained.metadata["baseline"]))
    click.echo(f"wrote {out} ({size:,} bytes{', unsigned' if unsigned else ', signed'})")


@click.command()
def specs() -> None:
    """List the model specs that ``driftline train --model`` accepts."""
    from stream.model.specs import describe

    for line in describe():
        click.echo(line)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--alias", type=click.Choice(["champion", "challenger"]), default="champion", show_default=True)
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.pass_context
def deploy(ctx, file, alias, reason) -> None:
    """Store an artifact in the registry as a new version and point an alias at it."""
    from stream.model import artifact
    from stream.registry.registry import Registry

    settings = settings_of(ctx)
    data = Path(file).read_bytes()
    # Verify before storing: the registry only ever holds artifacts that workers will accept.
    metadata = artifact.read_metadata(data, settings.signing_key_bytes(), allow_unsigned=settings.allow_unsigned)
    registry = Registry.from_url(settings.redis_url)
    version = registry.register(data, metadata, alias=alias, reason=reason or f"driftline deploy {Path(file).name}")
    click.echo(f"deployed {metadata['name']} version {version} as {alias}")


@click.group(cls=Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx, as_json) -> None:
    """List models with their versions and aliases (``models show NAME`` for one)."""
    if ctx.invoked_subcommand is not None:
        return
    from stream.registry.registry import Registry

    registry = Registry.from_url(settings_of(ctx).redis_url)
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
    from stream.registry.registry import Registry

    info = Registry.from_url(settings_of(ctx).redis_url).show(name)
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
        # Nothing learned yet (a challenger just registered): River's empty metrics read 0, which says nothing.
        counted = learned.get("n_learned") or 0
        overall = ", ".join(f"{k} {v:.4f}" for k, v in learned["metrics"]["overall"].items() if v is not None and counted)
        recent = ", ".join(f"{k} {v:.4f}" for k, v in learned["metrics"]["recent"].items() if v is not None and counted)
        click.echo(f"learning {alias} (v{learned['version']}): {learned['n_learned']:,} examples learned; "
                   f"snapshot revision {learned['revision']}, {learned['snapshot_age_seconds']:.0f}s old")
        click.echo(f"  prequential overall: {overall or '-'}")
        click.echo(f"  last {learned['metrics']['window']:,}: {recent or '-'}")
    click.echo("audit:")
    for entry in info["audit"][-20:]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(entry["ts"])))
        alias = f" {entry['alias']}" if entry.get("alias") else ""
        click.echo(f"  {when} {entry['action']}{alias} v{entry['version']}: {entry['reason']}")


def _command(ctx, name: str, action: str, version: int | None, reason: str, wait: float) -> None:
    """Hand a command to the deployment controller of ``name`` and wait for its outcome."""
    from stream.deployment.store import DeployStore
    from stream.registry.registry import Registry

    settings = settings_of(ctx)
    registry = Registry.from_url(settings.redis_url)
    if name not in registry.models():
        raise click.ClickException(f"unknown model {name!r}; known models: {', '.join(registry.models()) or 'none'}")
    store = DeployStore.from_url(settings.redis_url, settings.app_id)
    command_id = store.submit(name, action, "cli", version, reason)
    click.echo(f"{action} {name}: command {command_id} sent; waiting up to {wait:g}s for the worker that holds its learners",
               err=True)
    result = store.wait(command_id, wait)
    if result is None:
        raise click.ClickException(f"no worker carried out command {command_id} within {wait:g}s (is a worker running? "
                                   f"it stays queued: driftline models deployment {name})")
    if not result["ok"]:
        raise click.ClickException(f"refused: {result['detail']}")
    record = result.get("record") or {}
    if record.get("kind") in ("deployed", "rolled_back"):
        click.echo(f"{record['kind']} {name}: v{record['from_version']} -> v{record['to_version']} ({record['reason']})")
    else:
        click.echo(f"{name}: {result['detail']}")


_wait_option = click.option("--wait", default=60.0, show_default=True, help="Seconds to wait for a worker to carry it out.")
_reason_option = click.option("--reason", default="", help="Why (kept in the audit log and the record).")


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@_reason_option
@_wait_option
@click.pass_context
def models_promote(ctx, name, version, reason, wait) -> None:
    """Make VERSION the champion of NAME (the champion before stays in shadow, on probation)."""
    _command(ctx, name, "promote", version, reason, wait)


@models.command("rollback")
@click.argument("name")
@_reason_option
@_wait_option
@click.pass_context
def models_rollback(ctx, name, reason, wait) -> None:
    """Make the previous champion of NAME the champion again."""
    _command(ctx, name, "rollback", None, reason, wait)


@models.command("retrain")
@click.argument("name")
@_reason_option
@_wait_option
@click.pass_context
def models_retrain(ctx, name, reason, wait) -> None:
    """Retrain NAME now on its recent labeled examples; the new version goes into shadow as challenger."""
    _command(ctx, name, "retrain", None, reason, wait)


@models.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_history(ctx, name, as_json) -> None:
    """Which version of NAME served when, who moved it and why."""
    from stream.registry.registry import Registry

    registry = Registry.from_url(settings_of(ctx).redis_url)
    if name not in registry.models():
        raise click.ClickException(f"unknown model {name!r}; known models: {', '.join(registry.models()) or 'none'}")
    history = registry.history(name)
    if as_json:
        click.echo(json.dumps(history, indent=2))
        return
    for entry in history:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["from"]))
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["until"])) if entry["until"] else "now"
        replaced = f", replacing v{entry['previous']}" if entry["previous"] else ""
        click.echo(f"v{entry['version']}  {since} .. {until}  by {entry['by'] or '-'}{replaced}: {entry['reason']}")


@models.command("deployment")
@click.argument("name")
@click.pass_context
def models_deployment(ctx, name) -> None:
    """The deployment loop's state for NAME and its latest records (JSON)."""
    from stream.deployment.store import DeployStore
    from stream.registry.registry import Registry

    settings = settings_of(ctx)
    known = Registry.from_url(settings.redis_url).models()
    if name not in known:
        raise click.ClickException(f"unknown model {name!r}; known models: {', '.join(known) or 'none'}")
    store = DeployStore.from_url(settings.redis_url, settings.app_id)
    click.echo(json.dumps({"state": store.state(name), "records": store.records(name)[-20:]}, indent=2, default=str))
