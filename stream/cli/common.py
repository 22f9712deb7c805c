"""What every ``driftline`` command shares: the group that reports Driftline's errors in one
line, the settings, and progress on stderr."""

from __future__ import annotations

import click

from stream.errors import DriftlineError
from stream.progress import ProgressWriter
from stream.settings import Settings


class Group(click.Group):
    """Reports DriftlineError as ``error: ...`` instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DriftlineError as exc:
            raise click.ClickException(str(exc)) from exc


def settings_of(ctx: click.Context) -> Settings:
    """The one settings object, read by the root command."""
    return ctx.find_root().obj


def progress(label: str):
    writer = ProgressWriter(click.get_text_stream("stderr"))

    def show(done: int, total: int) -> None:
        writer.update(f"{label}: {done:,}/{total:,}", final=done >= total)

    return show
