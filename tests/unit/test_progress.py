"""Progress bars: drawn on a terminal only, never into logs or pipes."""

from __future__ import annotations

import io

from schulit.progress import ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_no_progress_bar() -> None:
    stream = io.StringIO()
    with ProgressBar("writing directory", 500, stream) as bar:
        for done in range(501):
            bar.update(done)
    assert stream.getvalue() == ""


def test_a_terminal_gets_one_redrawn_line_ending_at_the_total() -> None:
    stream = FakeTerminal()
    with ProgressBar("writing directory", 40, stream) as bar:
        for done in range(41):
            bar.update(done)
    output = stream.getvalue()
    assert output.endswith("\n") and output.count("\n") == 1
    last = output.rstrip("\n").split("\r")[-1]
    assert last.startswith("writing directory [" + "#" * 30 + "] 40/40")
    assert bar.render() == "writing directory [" + "#" * 30 + "] 40/40"


def test_half_way_is_half_filled_and_progress_never_goes_back() -> None:
    bar = ProgressBar("hosts", 10, io.StringIO())
    bar.update(5)
    bar.update(3)
    assert bar.done == 5 and bar.render() == "hosts [" + "#" * 15 + "." * 15 + "] 5/10"
