"""``driftline alerts``: the delivery log, a signed test alert, endpoints enabled again, new secrets."""

from __future__ import annotations

import asyncio
import json
import time

import click

from stream.errors import ConfigError

from .common import Group, settings_of


@click.group(cls=Group, invoke_without_command=True)
@click.option("--endpoint", default=None, help="Only this endpoint's deliveries.")
@click.option("--model", default=None, help="Only this model's deliveries.")
@click.option("--state", type=click.Choice(["collecting", "pending", "delivered", "failed"]), default=None,
              help="Only deliveries in this state.")
@click.option("--limit", default=20, show_default=True, help="How many deliveries (newest first).")
@click.option("--attempts", "show_attempts", is_flag=True, help="Print the attempt log instead of the deliveries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def alerts(ctx, endpoint, model, state, limit, show_attempts, as_json) -> None:
    """Alert deliveries to the endpoints of DRIFTLINE_ALERTS_FILE, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    store = _store(settings_of(ctx))

    async def read():
        try:
            if show_attempts:
                return await store.attempts(endpoint=endpoint, model=model, limit=limit)
            return await store.list(endpoint=endpoint, model=model, state=state, limit=limit)
        finally:
            await store.redis.aclose()

    rows = asyncio.run(read())
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no alert deliveries" + (" matching" if endpoint or model or state else "") + " yet")
        return
    for row in rows:
        if show_attempts:
            click.echo(f"{_when(row['ts'])}  {row['endpoint']:<12} {row.get('kind') or '':<16} {row.get('model') or '-':<14} "
                       f"attempt {row['attempt']}  {row.get('status') or '-':>4}  {row.get('latency', 0):.3f}s  "
                       f"{row.get('state', '')}  {row.get('error') or ''}")
            continue
        outcome = row["last_error"] or (f"HTTP {row['last_status']}" if row["last_status"] else "")
        click.echo(f"{_when(row['created'])}  {row['endpoint']:<12} {row['kind']:<16} {row['model']:<14} "
                   f"records {row['count']:<3} {row['state']:<10} attempts {row['attempts']}  {outcome}  {row['id']}")


@alerts.command("test")
@click.argument("endpoint")
@click.pass_context
def test(ctx, endpoint) -> None:
    """Send ENDPOINT a signed test alert now (outside the queue) and print its answer."""
    from stream.alerts.config import load_alerts_file
    from stream.alerts.delivery import send_test
    from stream.alerts.payloads import probe_record

    settings = settings_of(ctx)
    config = load_alerts_file(_alerts_file(settings))
    if endpoint not in config.endpoints:
        raise ConfigError(f"no endpoint {endpoint!r} in {settings.alerts_file}; endpoints: {', '.join(config.endpoints) or 'none'}")
    target = config.endpoints[endpoint]
    record = probe_record(endpoint)
    result = asyncio.run(send_test(target, record))
    attempt = {"endpoint": endpoint, "delivery": result["delivery"], "record_id": record["id"], "model": None, "kind": "test",
               "attempt": 1, "ts": time.time(), "status": result["status"], "error": result["error"],
               "latency": round(result["latency"], 4), "state": "delivered" if result["ok"] else "failed"}
    try:
        asyncio.run(_log(settings, attempt))
    except Exception as exc:  # the test itself went through; only its log line is missing
        click.echo(f"(not logged in Redis: {type(exc).__name__}: {exc})", err=True)
    shown = f"HTTP {result['status']}" if result["status"] is not None else result["error"]
    click.echo(f"{endpoint}: {shown} in {result['latency']:.3f}s (webhook-id {result['delivery']})")
    if not result["ok"]:
        raise click.ClickException(f"the test alert to {endpoint} failed: {result['error']}")


@alerts.command("enable")
@click.argument("endpoint")
@click.pass_context
def enable(ctx, endpoint) -> None:
    """Enable ENDPOINT again after it answered 410 Gone."""
    store = _store(settings_of(ctx))

    async def run() -> bool:
        try:
            return await store.enable(endpoint)
        finally:
            await store.redis.aclose()

    click.echo(f"{endpoint}: enabled again" if asyncio.run(run()) else f"{endpoint} was not disabled")


@alerts.command("secret")
def secret() -> None:
    """Print a new endpoint secret (whsec_ and 32 random bytes in base64)."""
    from stream.alerts.config import new_secret

    click.echo(new_secret())


def _alerts_file(settings) -> str:
    if not settings.alerts_file:
        raise ConfigError("no alerts file: set DRIFTLINE_ALERTS_FILE (README: alerts)")
    return settings.alerts_file


def _store(settings):
    from stream.alerts.store import AlertStore
    from stream.registry.redis_client import async_redis_client

    return AlertStore(async_redis_client(settings.redis_url, timeout=5.0), settings.app_id)


async def _log(settings, attempt: dict) -> None:
    store = _store(settings)
    try:
        await store.log_attempt(attempt)
    finally:
        await store.redis.aclose()


def _when(ts) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts))) if ts else "-"
