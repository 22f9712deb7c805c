"""The ``driftline`` command line: one module per command group.

Every command reads the one :class:`~stream.settings.Settings` object (``DRIFTLINE_*`` variables)
and turns Driftline's own errors into a one-line message and exit code 1; heavy modules are
imported inside the commands so that ``driftline --help`` stays fast.
"""

from __future__ import annotations

import click

from stream.errors import DriftlineError
from stream.settings import Settings

from . import alerts, batch, dev, models, monitor, service
from .common import Group


@click.group(cls=Group)
@click.version_option(package_name="driftline")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Driftline: streaming online prediction and drift monitoring for River models on Kafka."""
    try:
        ctx.obj = Settings.from_env()
    except DriftlineError as exc:
        raise click.ClickException(str(exc)) from exc


for command in (dev.dev, models.train, models.specs, models.deploy, models.models, service.worker, service.replay,
                service.demo, batch.predict, batch.export, batch.edge_bundle, monitor.baseline, monitor.report, alerts.alerts):
    main.add_command(command)
