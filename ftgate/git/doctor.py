"""``ftgate doctor``: what is installed where, what is missing, and whether
this checkout is protected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftgate.git.install import ProtectionStatus, protection_status


@dataclass(slots=True)
class DoctorReport:
    repo: Path
    status: ProtectionStatus
    lines: list[str] = field(default_factory=list)

    @property
    def protected(self) -> bool:
        return self.status.protected


def _config_line(repo: Path) -> str:
    from ftgate.errors import FtgateError
    from ftgate.policy.config import load_config

    if not (repo / "ftgate.yaml").is_file():
        return "ftgate.yaml: none (defaults: everything but tickets/, *.md, *.rst and docs/ is source)"
    try:
        load_config(repo)
    except FtgateError as err:
        return f"ftgate.yaml: INVALID: {err}"
    return "ftgate.yaml: valid"


def diagnose(repo: Path) -> DoctorReport:
    repo = Path(repo)
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
    lines.append(_config_line(repo))
    lines.append("protected: " + ("yes" if status.protected else "NO"))
    lines += [f"  - {r}" for r in status.reasons]
    if not status.protected:
        lines.append("fix: ftgate install   (or add the ftgate-check hook to .pre-commit-config.yaml and run "
                     "`pre-commit install --hook-type pre-commit --hook-type pre-push`)")
    return report
