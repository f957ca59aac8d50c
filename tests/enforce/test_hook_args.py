"""One parser for the hooks' arguments: the lean entry git calls and the
click commands behind --help read them the same way."""

from __future__ import annotations

import re

import pytest

from ftgate.git.fastpath import HookUsage, parse, run_fast
from tests.support.gitrepo import Repo


@pytest.mark.parametrize(("args", "hook", "flags", "positional"), [
    (["check"], "pre-commit", set(), ()),
    (["check", "-v"], "pre-commit", {"-v"}, ()),
    (["hook", "pre-commit", "--verbose"], "pre-commit", {"--verbose"}, ()),
    (["hook", "pre-push", "origin", "git@host:x.git"], "pre-push", set(), ("origin", "git@host:x.git")),
    (["hook", "pre-push", "--all-branches"], "pre-push", {"--all-branches"}, ()),
    (["hook", "pre-push", "origin", "u", "--all-branches"], "pre-push", {"--all-branches"}, ("origin", "u")),
    (["hook", "pre-receive"], "pre-receive", set(), ()),
    (["hook", "update", "refs/heads/main", "a" * 40, "b" * 40], "update", set(),
     ("refs/heads/main", "a" * 40, "b" * 40)),
])
def test_the_shapes_git_and_the_framework_use(args: list[str], hook: str, flags: set[str],
                                              positional: tuple[str, ...]) -> None:
    call = parse(args)
    assert (call.hook, set(call.flags), call.positional) == (hook, flags, positional)


@pytest.mark.parametrize(("args", "said"), [
    (["check", "--bogus"], "unknown option --bogus"),
    (["check", "file.py"], "usage: ftgate check [-v]"),
    (["hook", "update", "refs/heads/main", "a"], "usage: ftgate hook update REF OLD NEW"),
    (["hook", "pre-push", "a", "b", "c"], "3 argument(s)"),
    (["hook", "post-commit"], "no hook named 'post-commit'"),
    (["status"], "expected `ftgate check`"),
])
def test_other_shapes_are_refused_with_the_usage(args: list[str], said: str) -> None:
    with pytest.raises(HookUsage, match=re.escape(said)):
        parse(args)
    assert run_fast(args) is None, "the click CLI explains what the lean entry does not take"


def test_the_click_commands_use_the_same_parser(repo: Repo) -> None:
    bad = repo.ftgate("hook", "update", "refs/heads/main", "a")
    assert bad.returncode == 2 and "usage: ftgate hook update REF OLD NEW" in bad.stderr, bad.stderr
    bogus = repo.ftgate("check", "--bogus")
    assert bogus.returncode == 2 and "unknown option --bogus; usage: ftgate check [-v]" in bogus.stderr
    helped = repo.ftgate("hook", "pre-push", "--help")
    assert helped.returncode == 0 and "--all-branches" in helped.stdout
    fine = repo.ftgate("hook", "pre-commit", "-v")
    assert fine.returncode == 0 and "ftgate: ok" in fine.stderr, fine.stderr
