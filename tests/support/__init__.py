"""Shared test support: real git repositories, the in-process CLI runner,
ticket contents and the trainer's throwaway project.

Every test imports its helpers from here, never from another test module's
folder, so a helper has one home and one name however pytest is invoked."""
