"""``driftline worker``, ``replay`` and ``demo``: running the service and streaming data into it."""

from __future__ import annotations

import logging
import sys

import click

from .common import settings_of


@click.command()
@click.pass_context
def worker(ctx) -> None:
    """Run a Faust worker: scores ``events`` into ``predictions`` and serves the HTTP API."""
    import faust

    from stream.app import create_app
    from stream.transport.topics import ensure_topics

    settings = settings_of(ctx)
    if settings.malloc_mmap_threshold_kib:
        from stream.malloc import fix_mmap_threshold

        if not fix_mmap_threshold(settings.malloc_mmap_threshold_kib):  # RSS stays where it was after a lag
            logging.getLogger(__name__).warning("DRIFTLINE_MALLOC_MMAP_THRESHOLD_KIB ignored: the C library is not glibc")
    settings.state_path.mkdir(parents=True, exist_ok=True)
    check_web_port(settings.web_host, settings.web_port)  # before joining the group: a failed start rebalances no one
    ensure_topics(settings)
    use_event_loop(settings.event_loop)
    app = create_app(settings)
    from stream.gcpause import freeze_start_up, observe_pauses
    from stream.metrics import METRICS

    freeze_start_up()  # what start-up made stays: full collections no longer walk it (p99 latency)
    observe_pauses(METRICS.gc_pauses)
    faust.Worker(app, loglevel=settings.log_level).execute_from_commandline()


def check_web_port(host: str, port: int) -> None:
    """A clear error, naming the setting, when the worker's HTTP port is taken (Faust's own is a
    traceback once the worker has started)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server binds: TIME_WAIT is no conflict
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}; another worker or program "
                                   "has it: set DRIFTLINE_WEB_PORT (or DRIFTLINE_WEB_HOST) to a free one") from None


def use_event_loop(name: str) -> None:
    """Install uvloop's event loop policy (before Faust makes its loop), or keep asyncio's."""
    if name == "uvloop":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@click.command()
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
    from stream.dev.replay import progress_bar
    from stream.dev.replay import replay as run_replay
    from stream.training.datasets import load_dataset
    from stream.transport.topics import ensure_topics

    settings = settings_of(ctx)
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


@click.command()
@click.option("--events", "n_events", default=20_000, show_default=True, help="Events to stream.")
@click.option("--rate", default=2_000.0, show_default=True, help="Events per second.")
@click.option("--keep", is_flag=True, help="Leave the stack and worker running afterwards.")
@click.pass_context
def demo(ctx, n_events, rate, keep) -> None:
    """Everything on the embedded stack: train, deploy, run a worker, stream, watch predictions."""
    from stream.dev.demo import run_demo

    sys.exit(run_demo(settings_of(ctx), n_events=n_events, rate=rate, keep=keep))
