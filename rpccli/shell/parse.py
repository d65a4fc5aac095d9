"""The shell's word splitting: it lives in :mod:`rpccli.words`, shared with ``rpccli batch``,
so that both read ``$'\\x41'``, quotes and backslashes the same way."""

from __future__ import annotations

from rpccli.words import Partial, Word, split_line, split_partial

__all__ = ["Partial", "Word", "split_line", "split_partial"]
