"""The one rule for a name that TAB may offer, a menu may show and a cache may keep.

A node chooses its function names, and uWSGI accepts any bytes up to 255 as one. Such a name
ends up on the user's command line (bash, zsh, fish and ``rpccli shell`` complete it) and in
menus drawn on their terminal, so only a name that survives both is let in:

- text that is valid UTF-8 (a name that does not decode could not be typed back as itself);
- every character printable (:meth:`str.isprintable`): no C0 or C1 control, DEL, line or
  paragraph separator, bidi override or other format character, surrogate or unassigned code
  point -- each would move the cursor, rewrite the screen or hide what Enter will send;
- no whitespace at all, so that the name is one word wherever it is read;
- not starting with ``-``, which ``rpccli call`` would read as an option (``--local=FILE``
  would run a file of the node's choosing);
- 1 to 255 bytes, as uWSGI allows.

Shell metacharacters (``$ ` ; & | * ? ( ) [ ] { } < > ~ # ! ' " \\``) ARE allowed: whoever puts a
name on a command line quotes it (see rpccli.completion and rpccli.shell.completer).

Standard library only and nothing imported: rpccli.names loads this on every TAB.
"""

from __future__ import annotations

__all__ = ["MAX_NAME", "MAX_NODE", "carries", "is_offerable"]

#: a function name is 1..255 bytes
MAX_NAME = 255
#: the longest node (or node group, or profile name) that TAB offers
MAX_NODE = 1024


def carries(value: str) -> bool:
    """Can one line of a completion answer carry ``value`` to the shell, and the shell show it?

    Printable text, spaces allowed (file names have them; the shell quotes them). This is the
    last guard before an answer leaves rpccli; names pass :func:`is_offerable` long before.
    """
    return value.replace(" ", "x").isprintable()


def is_offerable(name: object, *, limit: int = MAX_NAME) -> bool:
    """THE rule: may ``name`` be stored, listed in a menu and offered by TAB as one word?

    ``limit`` is the most UTF-8 bytes allowed: :data:`MAX_NAME` for a function name,
    :data:`MAX_NODE` for a node or profile name.
    """
    if not isinstance(name, str) or not name or name[0] == "-" or " " in name:
        return False
    # isprintable() is False for every control, separator and format character (and for
    # surrogates, which is what undecodable bytes become), True for the space handled above
    return name.isprintable() and len(name.encode("utf-8")) <= limit
