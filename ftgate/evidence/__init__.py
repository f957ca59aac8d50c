"""Stage 5 evidence: its on-disk record and its verification (core side, no torch)."""
