"""Progress lines: redrawn on a terminal, plain and sparse in a log."""

import io

from stream.dev.replay import progress_bar
from stream.progress import ProgressWriter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_plain_lines_only_every_so_often_and_always_the_last():
    log = io.StringIO()
    show = progress_bar(log)
    for done in range(1, 30_001, 200):  # how often replay calls it: far more than a log needs
        show(done, 30_001, max(0, done - 300))
    show(30_001, 30_001, 30_001)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 1  # no ten seconds passed: the final line only
    assert "30,001/30,001 events" in lines[0] and "labels 30,001" in lines[0]


def test_a_terminal_line_is_redrawn_in_place():
    terminal = Terminal()
    writer = ProgressWriter(terminal)
    writer.every = 0.0  # every update shown
    writer.update("1/2")
    writer.update("2/2", final=True)
    assert terminal.getvalue() == "\r1/2\r2/2\n"


def test_a_log_line_is_written_once_its_interval_has_passed():
    log = io.StringIO()
    writer = ProgressWriter(log, log_every=0.0)
    writer.update("half")
    writer.update("done", final=True)
    assert log.getvalue() == "half\ndone\n"
