"""The trainer's task metrics: the evidence layer's scorers, under the name
trainer code and user configs already use. They live in
``ftgate.evidence.scoring`` so the verifier recomputes them without torch."""

from __future__ import annotations

from ftgate.evidence.scoring import Scorer, UserFunction, load_user_function, normalize_text, score_outputs

__all__ = ["Scorer", "UserFunction", "load_user_function", "normalize_text", "score_outputs"]
