"""``driftline dev up / status / down``: the embedded single-machine stack."""

from __future__ import annotations

import sys

import click

from .common import Group, settings_of


@click.group(cls=Group)
def dev() -> None:
    """The embedded single-machine stack: a Tansu Kafka broker and redis-server on loopback."""


@dev.command("up")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for both to answer.")
@click.pass_context
def dev_up(ctx: click.Context, timeout: float) -> None:
    """Start the broker and Redis in the background and create the topics."""
    from stream.dev.devstack import EmbeddedStack
    from stream.transport.topics import ensure_topics

    settings = settings_of(ctx)
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
    from stream.dev.devstack import EmbeddedStack

    statuses = EmbeddedStack(settings_of(ctx)).status()
    for s in statuses:
        state = "answering" if s.answering else ("running, not answering" if s.running else "stopped")
        click.echo(f"{s.name:7} {s.address:28} {state}" + (f" (pid {s.pid})" if s.pid else ""))
    if not all(s.answering for s in statuses):
        sys.exit(1)


@dev.command("down")
@click.pass_context
def dev_down(ctx: click.Context) -> None:
    """Stop exactly what ``driftline dev up`` started."""
    from stream.dev.devstack import EmbeddedStack

    stopped = EmbeddedStack(settings_of(ctx), log=lambda m: click.echo(m, err=True)).down()
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
