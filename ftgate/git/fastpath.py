"""The hooks' entry: ``ftgate check`` and ``ftgate hook ...``, parsed once,
and ``ftgate agent hook``, which the agent adapter parses itself.

:func:`parse` is the only reader of a hook's arguments. ``ftgate.__main__``
calls :func:`run_fast` before the click CLI loads, so a hook costs no click
import; the click commands in ``ftgate.cli.enforce_commands`` exist for
``--help`` and hand their raw arguments to the same :func:`parse`. A shape
:func:`parse` refuses falls through to click, which prints the usage error.

Imports here stay stdlib-only (no click, pydantic, yaml or pathspec):
``python -X importtime -m ftgate check`` shows the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

_VERBOSE = ("-v", "--verbose")
_ALL_BRANCHES = "--all-branches"
# hook name -> (flags it accepts, fewest and most positional arguments)
_SHAPES: dict[str, tuple[tuple[str, ...], int, int]] = {
    "pre-commit": (_VERBOSE, 0, 0),
    "pre-push": ((_ALL_BRANCHES,), 0, 2),  # <remote> <url>, as git passes them
    "pre-receive": ((), 0, 0),  # the updates come on stdin
    "update": ((), 3, 3),  # <ref> <old-id> <new-id>
}
USAGE = {
    "pre-commit": "ftgate check [-v]",
    "pre-push": "ftgate hook pre-push [REMOTE [URL]] [--all-branches]",
    "pre-receive": "ftgate hook pre-receive  (<old> <new> <ref> lines on stdin)",
    "update": "ftgate hook update REF OLD NEW",
}


class HookUsage(ValueError):
    """Arguments no hook is called with; the message says which shape fits."""


class HookCall:
    """One hook invocation: which hook, its flags and its positional arguments."""

    __slots__ = ("flags", "hook", "positional")

    def __init__(self, hook: str, flags: frozenset[str], positional: tuple[str, ...]) -> None:
        self.hook = hook
        self.flags = flags
        self.positional = positional

    def __repr__(self) -> str:
        return f"HookCall({self.hook!r}, {sorted(self.flags)!r}, {self.positional!r})"


def parse(args: Sequence[str]) -> HookCall:
    """``check [-v]`` or ``hook NAME ARGS...``, as git, the pre-commit
    framework and the installed hook scripts call them."""
    if args and args[0] == "check":
        hook, rest = "pre-commit", list(args[1:])
    elif len(args) >= 2 and args[0] == "hook":
        hook, rest = args[1], list(args[2:])
    else:
        raise HookUsage("expected `ftgate check` or `ftgate hook NAME`")
    shape = _SHAPES.get(hook)
    if shape is None:
        raise HookUsage(f"no hook named {hook!r}; ftgate has {', '.join(_SHAPES)}")
    accepted, fewest, most = shape
    flags = [a for a in rest if a.startswith("-")]
    positional = tuple(a for a in rest if not a.startswith("-"))
    unknown = [f for f in flags if f not in accepted]
    if unknown or not fewest <= len(positional) <= most:
        what = f"unknown option {unknown[0]}" if unknown else f"{len(positional)} argument(s)"
        raise HookUsage(f"{what}; usage: {USAGE[hook]}")
    return HookCall(hook, frozenset(flags), positional)


def run(call: HookCall) -> int:
    """Run the hook ``call`` names, within the hook time budget; its exit
    status. A hook that runs out of time refuses (fails closed): on the
    server an accepted push is final, and a crafted input must not buy its
    way in by making the hook slow."""
    import sys

    from ftgate.limits import HOOK_BUDGET_ENV, BudgetExhausted, hook_budget, time_budget

    seconds = hook_budget()
    try:
        with time_budget(seconds, f"ftgate hook {call.hook}"):
            return _run(call)
    except BudgetExhausted as exc:
        print(f"ftgate: refused: {exc}; nothing was accepted.\n"
              f"  fix: push (or commit) fewer changes at a time; if this repository needs longer, the server's "
              f"administrator can raise {HOOK_BUDGET_ENV} (seconds) in the hook's environment",
              file=sys.stderr)
        return 1


def _run(call: HookCall) -> int:
    if call.hook == "pre-commit":
        from ftgate.git import precommit

        return precommit.main(verbose=bool(call.flags & set(_VERBOSE)))
    if call.hook == "pre-push":
        from ftgate.git import prepush

        remote = call.positional[0] if call.positional else None
        return prepush.main(remote, all_branches=_ALL_BRANCHES in call.flags)
    from ftgate.git import receive

    if call.hook == "pre-receive":
        return receive.pre_receive()
    ref, old, new = call.positional
    return receive.update(ref, old, new)


def run_fast(args: Sequence[str]) -> int | None:
    """The hook's exit status, or None when ``args`` are not a hook call
    (then the click CLI runs and explains)."""
    if len(args) >= 2 and args[0] == "agent" and args[1] == "hook":
        from ftgate.agents import hook as agent_hook

        parsed = agent_hook.parse_args(args[2:])
        return None if isinstance(parsed, str) else agent_hook.main(args[2:])
    try:
        call = parse(args)
    except HookUsage:
        return None
    return run(call)
