"""`ftgate init` in a repository with history: the proposed policy, the
adoption commit through the local hook, a bare server's update hook and
`ftgate ci`; the same commit with anything else in it is refused; and
`ftgate uninstall` takes back exactly what init and install wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.adoption import Repo

REFUSAL = "no ticket governs it"


@pytest.fixture
def legacy(tmp_path: Path, env: dict[str, str]) -> Repo:
    """A training project that has never heard of ftgate, with a server
    that already holds its history (the update hook goes on afterwards)."""
    repo = Repo(tmp_path / "legacy", env)
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write("README.md", "# A model\n")
    repo.write("docs/usage.md", "how to\n")
    repo.commit("Start")
    repo.write("mymodel/__init__.py", "")
    repo.write("mymodel/loss.py", "def loss(): ...\n")
    repo.write("configs/sft.yaml", "lr: 0.1\n")
    repo.write("train.py", "print('train')\n")
    repo.commit("Add the trainer")
    server = tmp_path / "server.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(server), cwd=tmp_path)
    repo.git("remote", "add", "origin", str(server))
    repo.git("fetch", "-q", "origin")
    installed = repo.ftgate("install", "--server", str(server))
    assert installed.returncode == 0, installed.stderr
    return repo


def test_init_proposes_the_layout_and_installs_hooks(legacy: Repo) -> None:
    done = legacy.ftgate("init")
    assert done.returncode == 0, done.stderr
    text = (legacy.path / "ftgate.yaml").read_text()
    for where in ('"/mymodel/"', '"/configs/"', '"/*.py"'):
        assert where in text, text
    assert "# approvals:" in text
    assert "ftgate install --server" in done.stdout and "ftgate ci" in done.stdout
    hooks = Path(legacy.out("rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else legacy.path / hooks
    assert (hooks / "pre-commit").is_file() and (hooks / "pre-push").is_file()
    assert legacy.ftgate("config", "is-source", "mymodel/loss.py").stdout.startswith("source")
    assert legacy.ftgate("config", "is-source", "docs/usage.md").stdout.startswith("not source")


def test_adoption_commit_passes_every_door(legacy: Repo) -> None:
    base = legacy.out("rev-parse", "HEAD")
    assert legacy.ftgate("init").returncode == 0
    legacy.git("add", "ftgate.yaml")
    legacy.git("commit", "-q", "-m", "Adopt ftgate")  # through the installed pre-commit hook
    pushed = legacy.git("push", "origin", "main", check=False)  # pre-push here, update on the server
    assert pushed.returncode == 0, pushed.stderr
    ci = legacy.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    # Adopted: the next source change needs a ticket, at every door.
    legacy.write("train.py", "print('changed')\n")
    legacy.git("add", "train.py")
    refused = legacy.git("commit", "-q", "-m", "Sneak a change in", check=False)
    assert refused.returncode == 1 and REFUSAL in refused.stderr, refused.stderr


def test_adoption_with_source_in_it_is_refused(legacy: Repo) -> None:
    base = legacy.out("rev-parse", "HEAD")
    assert legacy.ftgate("init").returncode == 0
    legacy.write("train.py", "print('and a tweak')\n")
    legacy.git("add", "ftgate.yaml", "train.py")
    refused = legacy.git("commit", "-q", "-m", "Adopt and tweak", check=False)
    assert refused.returncode == 1 and REFUSAL in refused.stderr, refused.stderr
    legacy.git("commit", "-q", "--no-verify", "-m", "Adopt and tweak")
    pushed = legacy.git("push", "--no-verify", "origin", "main", check=False)
    assert pushed.returncode != 0 and REFUSAL in pushed.stderr, pushed.stderr
    ci = legacy.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 1, ci.stdout + ci.stderr


def test_old_branch_cannot_adopt_a_looser_policy_onto_an_adopted_server(legacy: Repo) -> None:
    before = legacy.out("rev-parse", "HEAD")
    assert legacy.ftgate("init").returncode == 0
    legacy.git("add", "ftgate.yaml")
    legacy.git("commit", "-q", "-m", "Adopt ftgate")
    assert legacy.git("push", "origin", "main", check=False).returncode == 0
    # A branch from before the adoption "adopts" again, with a policy that guards nothing.
    legacy.git("checkout", "-q", "-b", "loose", before)
    legacy.write("ftgate.yaml", "version: 1\nuntracked_source: allow\n")
    legacy.git("add", "ftgate.yaml")
    legacy.git("commit", "-q", "--no-verify", "-m", "Adopt, loosely")
    pushed = legacy.git("push", "--no-verify", "origin", "loose", check=False)
    assert pushed.returncode != 0, pushed.stderr
    ci = legacy.ftgate("ci", "--base", "origin/main", "--head", "loose", "--no-github")
    assert ci.returncode == 1, ci.stdout + ci.stderr


def test_uninstall_removes_only_what_init_and_install_added(legacy: Repo) -> None:
    hooks = Path(legacy.out("rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else legacy.path / hooks
    (hooks / "post-commit").write_text("#!/bin/sh\necho mine\n")
    assert legacy.ftgate("init").returncode == 0
    done = legacy.ftgate("uninstall")
    assert done.returncode == 0, done.stderr
    assert not (legacy.path / "ftgate.yaml").exists()
    assert not (hooks / "pre-commit").exists() and not (hooks / "pre-push").exists()
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho mine\n"
    assert legacy.out("status", "--porcelain") == ""


def test_uninstall_restores_a_replaced_hook_and_keeps_an_edited_policy(legacy: Repo) -> None:
    hooks = Path(legacy.out("rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else legacy.path / hooks
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit").chmod(0o755)
    assert legacy.ftgate("install", "--force").returncode == 0
    assert legacy.ftgate("init").returncode == 0
    (legacy.path / "ftgate.yaml").write_text("version: 1\n")
    done = legacy.ftgate("uninstall")
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    assert (legacy.path / "ftgate.yaml").read_text() == "version: 1\n"
    assert "left in place" in done.stdout


def test_adoption_with_a_hook_manager_config_and_ticket_scaffolding(legacy: Repo) -> None:
    base = legacy.out("rev-parse", "HEAD")
    legacy.write(".pre-commit-config.yaml", "repos: []\n")
    done = legacy.ftgate("init")
    assert done.returncode == 0, done.stderr
    # pre-commit owns the hooks: init prints its lines and installs none of its own.
    assert "pre-commit manages" in done.stdout and "ftgate hook pre-push" in done.stdout, done.stdout
    hooks = Path(legacy.out("rev-parse", "--git-path", "hooks"))
    hooks = hooks if hooks.is_absolute() else legacy.path / hooks
    assert not (hooks / "pre-commit").exists()
    legacy.write("tickets/README.md", "Tickets live here.\n")
    legacy.git("add", "ftgate.yaml", ".pre-commit-config.yaml", "tickets/README.md")
    legacy.git("commit", "-q", "--no-verify", "-m", "Adopt ftgate with pre-commit")
    pushed = legacy.git("push", "--no-verify", "origin", "main", check=False)
    assert pushed.returncode == 0, pushed.stderr
    ci = legacy.ftgate("ci", "--base", base, "--head", "HEAD", "--no-github")
    assert ci.returncode == 0, ci.stdout + ci.stderr
