"""The ``ftgate`` entry point.

Git hooks call ``ftgate check`` and ``ftgate hook ...`` on every commit and
push, and coding agents call ``ftgate agent hook`` on every tool use, so those
dispatch straight to lean adapters that import neither
click nor pydantic; everything else goes through the click CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_FAST_COMMANDS = ("check", "hook", "agent")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _FAST_COMMANDS and "--help" not in args:
        from ftgate.git.fastpath import run_fast

        code = run_fast(args)
        if code is not None:
            return code
    from ftgate.cli.main import run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
