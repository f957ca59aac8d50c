"""Coding-agent adapters: the edit-time gate.

``ftgate agent hook`` answers Claude Code's and Codex's ``PreToolUse`` hooks
with the same ``decide()`` the commit and server hooks ask, so an agent is
refused a source edit at the moment it tries, with the next command to run.
An adapter layer beside ``ftgate.git``: it imports policy, workflow and the
leaves, never the trainer or the CLI.
"""
