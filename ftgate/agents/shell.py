"""What a shell command would write, read best effort with ``shlex``.

A gate that tried to understand every shell program would be wrong in both
directions. This one recognises the common ways an agent writes a file from
a shell (redirections, ``tee``, ``sed -i``, ``perl -i``, ``cp``, ``mv``,
``rm``, ``touch``, ``truncate``, git's ``rm``/``mv``/``checkout --``/
``restore`` and ``apply_patch``) and the ways it could switch enforcement
off (``git commit --no-verify``, ``git -c core.hooksPath=...``,
``git config core.hooksPath``, ``chmod -x`` on a hook). Anything else is not
a write as far as this module can tell: reading or running source
(``python train.py``) is never one. A script that writes files is out of
sight; the commit and server hooks stay the doors that count.

stdlib only: this runs on every shell tool call.
"""

from __future__ import annotations

import re
import shlex

from ftgate.agents.patch import PatchedFile, patch_bodies, patched_files
from ftgate.records import field, record

#: Words that run the rest of the line as a command.
_PREFIXES = {"sudo", "env", "command", "exec", "nohup", "time", "nice", "builtin", "xargs"}
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh"}
_SEPARATORS = {";", "&&", "||", "|", "&", "|&", ";;", "(", ")", "\n"}
_REDIRECTS = {">", ">>", ">|", "&>", "&>>", "<>"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
#: git's short commit options that take an argument: an ``n`` after one of
#: these in a cluster (``-mn``) is that argument, not ``--no-verify``.
_COMMIT_ARG_FLAGS = set("mFcCtS")
#: What marks a command as writing, for a command shlex could not split.
_WRITE_CONSTRUCT = re.compile(r"(>|\s-i\b|\s-[a-zA-Z]*i[a-zA-Z]*\b|\btee\b|--in-place)")


@record(slots=True)
class Tamper:
    """A command that would switch enforcement off, whatever the stage."""

    rule: str
    message: str


@record(slots=True)
class ShellAnalysis:
    writes: list[PatchedFile] = field(default_factory=list)
    # Paths whose mode or existence changes only matter when they are hooks.
    mode_changes: list[str] = field(default_factory=list)
    tamper: list[Tamper] = field(default_factory=list)
    # Set when shlex could not split the command: the words that look like
    # paths, to be judged only if the command also holds a write construct.
    unparsed: list[str] | None = None


def analyse(command: str | list[str]) -> ShellAnalysis:
    """The writes and enforcement switches in one shell command (a string,
    or an argv list as some clients send it)."""
    out = ShellAnalysis()
    if isinstance(command, list):
        words = [str(w) for w in command]
        inner = _shell_script(words)
        if inner is None:
            _simple(words, out)
            return out
        command = inner
    _script(command, out, depth=0)
    return out


def _shell_script(words: list[str]) -> str | None:
    """``bash -lc SCRIPT`` -> SCRIPT."""
    if not words or words[0].rsplit("/", 1)[-1] not in _SHELLS:
        return None
    for i, word in enumerate(words[1:-1], start=1):
        if word.startswith("-") and not word.startswith("--") and "c" in word:
            return words[i + 1]
    return None


def _script(text: str, out: ShellAnalysis, depth: int) -> None:
    # apply_patch's envelope lives in a heredoc or a quoted argument; its
    # headers say what it writes, so read them before the shell words.
    if "apply_patch" in text or "applypatch" in text:
        for body in patch_bodies(text):
            out.writes += patched_files(body)
    text = _strip_heredocs(text)
    try:
        tokens = _tokens(text)
    except ValueError:
        out.unparsed = re.findall(r"[\w.~/+-]+", text) if _WRITE_CONSTRUCT.search(text) else []
        return
    command: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _SEPARATORS:
            _simple(command, out, depth)
            command = []
        elif tok in _REDIRECTS or (tok == ">&" and i + 1 < len(tokens) and not tokens[i + 1].isdigit()
                                   and tokens[i + 1] != "-"):
            if i + 1 < len(tokens) and tokens[i + 1] not in _SEPARATORS:
                target = tokens[i + 1]
                if target != "/dev/null" and not target.startswith("/dev/"):
                    out.writes.append(PatchedFile("M", target))
                i += 1
            if command and command[-1].isdigit():  # ``2>`` is one redirection
                command.pop()
        elif tok in ("<", "<<", "<<<", ">&", "<&"):
            i += 1  # its operand is read, not written
            if command and command[-1].isdigit():
                command.pop()
        else:
            command.append(tok)
        i += 1
    _simple(command, out, depth)


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>()")
    lexer.whitespace = " \t\r"  # a newline separates commands
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _strip_heredocs(text: str) -> str:
    """Drop heredoc bodies: they are data, not commands."""
    if "<<" not in text:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        kept.append(line)
        i += 1
        for match in _HEREDOC.finditer(line):
            word = match.group(2)
            while i < len(lines) and lines[i].strip() != word:
                i += 1
            i += 1
    return "\n".join(kept)


def _simple(words: list[str], out: ShellAnalysis, depth: int = 0) -> None:
    while words and _ASSIGNMENT.match(words[0]):
        words = words[1:]
    while words and words[0] in _PREFIXES:
        words = words[1:]
        while words and (words[0].startswith("-") or _ASSIGNMENT.match(words[0])):
            words = words[1:]
    if not words:
        return
    name = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if name in _SHELLS and depth < 3:
        inner = _shell_script(words)
        if inner is not None:
            _script(inner, out, depth + 1)
        return
    handler = _COMMANDS.get(name)
    if handler is not None:
        handler(args, out)


def _operands(args: list[str]) -> list[str]:
    """Arguments that are not options (everything after ``--`` counts)."""
    ops: list[str] = []
    rest = False
    for arg in args:
        if rest:
            ops.append(arg)
        elif arg == "--":
            rest = True
        elif not arg.startswith("-") or arg == "-":
            ops.append(arg)
    return ops


def _tee(args: list[str], out: ShellAnalysis) -> None:
    out.writes += [PatchedFile("M", p) for p in _operands(args) if p != "-"]


def _touch(args: list[str], out: ShellAnalysis) -> None:
    ops = _operands(args)
    if args and args[0] in ("-s", "--size") and ops:  # truncate -s N FILE
        ops = ops[1:]
    out.writes += [PatchedFile("M", p) for p in ops]


def _in_place(args: list[str], *, perl: bool) -> bool:
    for arg in args:
        if arg == "--in-place" or arg.startswith("--in-place="):
            return True
        if arg.startswith("-") and not arg.startswith("--"):
            letters = arg[1:]
            if perl:
                # -i, -pi, -pie, -i.bak: an ``i`` before any ``e`` script.
                if "i" in letters.split("e", 1)[0]:
                    return True
            elif letters.startswith("i") or ("i" in letters and "e" not in letters and "f" not in letters):
                return True
    return False


def _editor(args: list[str], out: ShellAnalysis, *, perl: bool) -> None:
    if not _in_place(args, perl=perl):
        return
    files: list[str] = []
    script_given = False
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-e", "-f", "--expression", "--file") or (perl and arg.startswith("-") and arg.endswith("e")
                                                                 and not arg.startswith("--")):
            script_given = True
            skip = True
            continue
        if arg.startswith(("--expression=", "--file=")):
            script_given = True
            continue
        if arg.startswith("-") and arg != "-":
            continue
        files.append(arg)
    if not script_given and files:
        files = files[1:]  # the first operand is the script
    out.writes += [PatchedFile("M", p) for p in files]


def _sed(args: list[str], out: ShellAnalysis) -> None:
    _editor(args, out, perl=False)


def _perl(args: list[str], out: ShellAnalysis) -> None:
    _editor(args, out, perl=True)


def _cp(args: list[str], out: ShellAnalysis) -> None:
    ops = _operands(args)
    target_dir = next((a.split("=", 1)[1] for a in args if a.startswith("--target-directory=")), None)
    for i, arg in enumerate(args[:-1]):
        if arg == "-t":
            target_dir = args[i + 1]
            ops = [o for o in ops if o != target_dir]
    if target_dir is not None:
        out.writes += [PatchedFile("A", f"{target_dir.rstrip('/')}/{_base(s)}") for s in ops]
        return
    if len(ops) < 2:
        return
    *sources, dest = ops
    out.writes += [PatchedFile("A", p) for p in _destinations(sources, dest)]


def _mv(args: list[str], out: ShellAnalysis) -> None:
    ops = _operands(args)
    if len(ops) < 2:
        return
    *sources, dest = ops
    for source, target in zip(sources, _destinations(sources, dest), strict=True):
        out.writes.append(PatchedFile("R", target, source))
        out.mode_changes.append(source)


def _destinations(sources: list[str], dest: str) -> list[str]:
    """Where each source lands: inside ``dest`` when it is a folder (several
    sources, or a trailing slash), else ``dest`` itself; a folder that
    exists is resolved later, against the payload's working folder."""
    if len(sources) > 1 or dest.endswith("/"):
        return [f"{dest.rstrip('/')}/{_base(s)}" for s in sources]
    return [dest + "\0" + _base(sources[0])]  # "\0": decided once the folder is known


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _rm(args: list[str], out: ShellAnalysis) -> None:
    for path in _operands(args):
        out.writes.append(PatchedFile("D", path))
        out.mode_changes.append(path)


def _chmod(args: list[str], out: ShellAnalysis) -> None:
    ops = _operands(args)
    modes = [a for a in args if a.startswith("-") and re.fullmatch(r"-[rwxXst]+", a)]
    if ops and re.fullmatch(r"[0-7]+|[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*", ops[0]):
        modes.append(ops[0])
        ops = ops[1:]
    if any(_drops_exec(m) for m in modes):
        out.mode_changes += ops


def _drops_exec(mode: str) -> bool:
    if mode.isdigit():
        return int(mode[-3:] or "0", 8) & 0o100 == 0
    return "-" in mode and "x" in mode.split("-", 1)[1] or ("=" in mode and "x" not in mode.split("=", 1)[1])


def _git(args: list[str], out: ShellAnalysis) -> None:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        opt = args[i]
        if opt == "-c" and i + 1 < len(args):
            _git_setting(args[i + 1], out)
            i += 2
            continue
        if opt.startswith(("--config-env", "-c")):
            _git_setting(opt.split("=", 1)[-1] if opt.startswith("--") else opt[2:], out)
        if opt in ("-C", "--git-dir", "--work-tree", "--namespace") and i + 1 < len(args):
            i += 2
            continue
        i += 1
    if i >= len(args):
        return
    sub, rest = args[i], args[i + 1:]
    if sub in ("commit", "merge", "cherry-pick", "revert", "am", "rebase", "push", "pull"):
        short_n = sub == "commit" and any(_short_n(a) for a in rest if a.startswith("-") and not a.startswith("--"))
        if "--no-verify" in rest or short_n:
            out.tamper.append(Tamper("no-verify", f"`git {sub} --no-verify` skips ftgate's hooks"))
    elif sub == "config":
        _git_config(rest, out)
    elif sub == "rm":
        if "--cached" not in rest:
            out.writes += [PatchedFile("D", p) for p in _operands(rest)]
    elif sub == "mv":
        _mv(rest, out)
    elif sub == "checkout" and "--" in rest:
        out.writes += [PatchedFile("M", p) for p in rest[rest.index("--") + 1:]]
    elif sub == "restore":
        staged_only = ("--staged" in rest or "-S" in rest) and not ("--worktree" in rest or "-W" in rest)
        if not staged_only:
            skip_next = False
            paths: list[str] = []
            for arg in rest:
                if skip_next:
                    skip_next = False
                elif arg in ("-s", "--source"):
                    skip_next = True
                elif arg == "--" or arg.startswith("-"):
                    continue
                else:
                    paths.append(arg)
            out.writes += [PatchedFile("M", p) for p in paths]


def _short_n(flag: str) -> bool:
    for letter in flag[1:]:
        if letter == "n":
            return True
        if letter in _COMMIT_ARG_FLAGS:
            return False
    return False


def _git_setting(text: str, out: ShellAnalysis) -> None:
    if text.split("=", 1)[0].strip().lower() == "core.hookspath":
        out.tamper.append(Tamper("hooks-path", "`git -c core.hooksPath=...` runs git without ftgate's hooks"))


def _git_config(rest: list[str], out: ShellAnalysis) -> None:
    keys = [a for a in rest if a.lower() == "core.hookspath"]
    if not keys:
        return
    reading = any(a in ("--get", "--get-all", "--list", "-l", "get") for a in rest)
    positional = [a for a in rest if not a.startswith("-")]
    changing = any(a.startswith("--unset") or a in ("--add", "--replace-all", "set", "unset") for a in rest)
    if changing or (not reading and len(positional) >= 2):
        out.tamper.append(Tamper("hooks-path", "`git config core.hooksPath` moves git away from ftgate's hooks"))


def _apply_patch(args: list[str], out: ShellAnalysis) -> None:
    for arg in args:
        if "*** Begin Patch" in arg:
            out.writes += patched_files(arg)


_COMMANDS = {
    "tee": _tee,
    "sed": _sed,
    "gsed": _sed,
    "perl": _perl,
    "cp": _cp,
    "install": _cp,
    "mv": _mv,
    "rm": _rm,
    "unlink": _rm,
    "shred": _rm,
    "touch": _touch,
    "truncate": _touch,
    "chmod": _chmod,
    "git": _git,
    "apply_patch": _apply_patch,
    "applypatch": _apply_patch,
}


def quote(words: list[str]) -> str:
    return shlex.join(words)
