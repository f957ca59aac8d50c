"""The hooks' entry: ``ftgate check``, ``ftgate hook ...`` and ``ftgate agent hook`` without click.

Called by ``ftgate.__main__`` before the click CLI loads. It handles the
argument shapes git hooks use and returns None for anything else (options it
does not know, ``--help``), which falls back to the click commands in
``ftgate.cli.enforce_commands`` that call the same functions.

Imports here stay stdlib-only (no click, pydantic, yaml, pathspec or
gitpython): ``python -X importtime -m ftgate check`` shows the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

_CHECK_FLAGS = {"-v", "--verbose"}


def run_fast(args: Sequence[str]) -> int | None:
    args = list(args)
    if not args:
        return None
    if args[0] == "check" and set(args[1:]) <= _CHECK_FLAGS:
        from ftgate.git import precommit

        return precommit.main(args[1:])
    if args[0] == "agent" and len(args) >= 2 and args[1] == "hook":
        from ftgate.agents import hook as agent_hook

        parsed = agent_hook.parse_args(args[2:])
        return None if isinstance(parsed, str) else agent_hook.main(args[2:])
    if args[0] != "hook" or len(args) < 2:
        return None
    name, rest = args[1], args[2:]
    if name == "pre-commit" and set(rest) <= _CHECK_FLAGS:
        from ftgate.git import precommit

        return precommit.main(rest)
    if name == "pre-push" and len(rest) <= 2:
        from ftgate.git import prepush

        return prepush.main(rest)
    if name == "pre-receive" and not rest:
        from ftgate.git import receive

        return receive.pre_receive()
    if name == "update" and len(rest) == 3:
        from ftgate.git import receive

        return receive.update(rest)
    return None
