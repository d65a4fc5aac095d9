"""A page's example shows what a reader's terminal shows (issue 15, item 10).

tests/test_docs.py reads stdout and stderr from two terminals and forgives their interleaving,
because which comes first depends on flushing. One case it cannot forgive: output with no final
newline (``-o netstring``, kept apart from the prompt by a trailing ``; echo``) followed by an
error line. On one terminal that line lands inside the output, so the page must not show it on a
line of its own: such an example keeps stderr out (``2>/dev/null``) or pipes its output.
"""

from __future__ import annotations

import pytest

from tests.test_docs import Block, console_steps, examples


def _console() -> list[Block]:
    return [block for block in examples() if block.lang == "console" and not block.not_run]


@pytest.mark.parametrize("block", _console(), ids=lambda b: b.id)
def test_no_stderr_line_after_output_without_a_newline(block: Block) -> None:
    for command, shown in console_steps(block):
        if not command.rstrip().endswith("; echo") or "2>" in command:
            continue
        errors = [line for line in shown if line.startswith("rpccli: ")]
        assert not errors, (
            f"{block.id}: `{command}` ends its output with no newline, so at a terminal "
            f"{errors[0]!r} lands inside it: add 2>/dev/null, or pipe the output"
        )
