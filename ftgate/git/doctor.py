"""``ftgate doctor``: what is installed where, what is missing, and whether
this checkout (or, in a bare repository, this server) is protected.

Healthy means: commits are checked (or, on a server, pushes are), and the
repository's ``ftgate.yaml`` is valid. Anything else makes ``doctor`` exit
non-zero, so a setup script can rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftgate import proc
from ftgate.constants import CONFIG_FILE
from ftgate.errors import FtgateError
from ftgate.git.install import (
    SERVER_HOOKS,
    HookState,
    ProtectionStatus,
    classify_hook,
    hooks_dir_of,
    protection_status,
)


@dataclass(slots=True)
class DoctorReport:
    repo: Path
    status: ProtectionStatus
    lines: list[str] = field(default_factory=list)
    config_ok: bool = True

    @property
    def protected(self) -> bool:
        return self.status.protected

    @property
    def healthy(self) -> bool:
        return self.status.protected and self.config_ok


def _where(path: Path) -> tuple[Path, bool]:
    """The work tree's top folder (or the bare repository) holding ``path``,
    and whether it is bare; a clear error outside git or without git."""
    done = proc.text(proc.run(["rev-parse", "--is-bare-repository", "--absolute-git-dir"], cwd=path,
                              ok_codes=None))
    if done.returncode != 0:
        raise FtgateError(f"{path}: not inside a git repository",
                          hint="run `ftgate doctor` in a checkout, or pass its path")
    bare_flag, git_dir = (done.stdout.splitlines() + ["", ""])[:2]
    if bare_flag == "true":
        return Path(git_dir), True
    top = proc.text(proc.run(["rev-parse", "--show-toplevel"], cwd=path)).stdout.strip()
    return Path(top), False


def _config_line(text: bytes | None, label: str) -> tuple[str, bool]:
    from ftgate.policy.config import parse_config

    if text is None:
        return f"{label}: none (defaults: everything but tickets/, *.md, *.rst and docs/ is source)", True
    try:
        parse_config(text.decode("utf-8", "replace"), label)
    except FtgateError as err:
        return f"{label}: INVALID: {err}", False
    return f"{label}: valid", True


def _server(repo: Path) -> DoctorReport:
    folder, setting = hooks_dir_of(repo)
    states = [HookState(name, folder / name, classify_hook(folder / name)) for name in SERVER_HOOKS]
    ours = [s for s in states if s.kind == "ftgate"]
    reasons: list[str] = []
    if not ours:
        reasons.append("no ftgate server hook: pushes are not judged; run `ftgate install --server "
                       f"{repo}`")
    elif len(ours) == 2:
        reasons.append("both pre-receive and update run ftgate, so every push is judged twice; keep one")
    else:
        reasons.append(f"ftgate's {ours[0].name} hook judges every push")
    status = ProtectionStatus(bool(ours), reasons, folder, setting, states)
    report = DoctorReport(repo, status)
    lines = report.lines
    lines.append(f"bare repository: {repo}")
    lines.append(f"hooks folder: {folder}" + (f" (core.hooksPath = {setting})" if setting else ""))
    lines += [f"  {s.name}: {s.kind}" for s in states]
    blob = proc.run(["cat-file", "blob", f"HEAD:{CONFIG_FILE}"], cwd=repo, ok_codes=None)
    line, report.config_ok = _config_line(blob.stdout if blob.returncode == 0 else None,
                                          f"{CONFIG_FILE} at HEAD")
    lines.append(line)
    lines.append("protected: " + ("yes" if status.protected else "NO"))
    lines += [f"  - {r}" for r in reasons]
    return report


def diagnose(path: Path) -> DoctorReport:
    repo, bare = _where(Path(path))
    if bare:
        return _server(repo)
    status = protection_status(repo)
    report = DoctorReport(repo, status)
    lines = report.lines
    lines.append(f"checkout: {repo}")
    if status.hooks_dir is not None:
        lines.append(f"hooks folder: {status.hooks_dir}"
                     + (f" (core.hooksPath = {status.hooks_path_setting})" if status.hooks_path_setting else ""))
    for hook in status.hooks:
        lines.append(f"  {hook.name}: {hook.kind}")
    if (repo / ".pre-commit-config.yaml").is_file():
        lines.append(".pre-commit-config.yaml: present")
    config = repo / CONFIG_FILE
    try:
        text = config.read_bytes()
    except FileNotFoundError:
        text = None
    except OSError as err:
        raise FtgateError(f"{config}: cannot be read ({err.strerror})", hint="fix its permissions") from None
    line, report.config_ok = _config_line(text, CONFIG_FILE)
    lines.append(line)
    lines.append("protected: " + ("yes" if status.protected else "NO"))
    lines += [f"  - {r}" for r in status.reasons]
    if not status.protected:
        lines.append("fix: ftgate install   (or add the ftgate-check hook to .pre-commit-config.yaml and run "
                     "`pre-commit install --hook-type pre-commit --hook-type pre-push`)")
    return report
