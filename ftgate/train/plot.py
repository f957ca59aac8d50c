"""A loss plot for people who would rather look than read."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any


def loss_plot_png(
    log_history: Sequence[Mapping[str, Any]],
    *,
    title: str,
    baseline: Mapping[str, float | None],
    result: Mapping[str, float | None],
) -> bytes:
    """PNG bytes: training and evaluation loss by step, and baseline vs result metrics.

    Rendered to memory so the caller can write it atomically like every
    other evidence file.
    """
    import matplotlib

    # Headless machines and CI have no display; never let matplotlib look for one.
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    fig, (ax_loss, ax_bar) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    if train:
        ax_loss.plot(*zip(*train, strict=True), label="training loss", marker=".")
    if evals:
        ax_loss.plot(*zip(*evals, strict=True), label="held-out loss", marker="o")
    base_loss = baseline.get("eval_loss")
    if base_loss is not None:
        ax_loss.axhline(base_loss, linestyle="--", color="grey", label="baseline held-out loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(title)
    if train or evals or base_loss is not None:
        ax_loss.legend()

    # Proportion-like task metrics share one 0..1 axis; loss has its own panel.
    names = [n for n in result if n not in ("eval_loss", "perplexity") and result.get(n) is not None]
    xs = range(len(names))
    width = 0.38
    ax_bar.bar([x - width / 2 for x in xs], [baseline.get(n) or 0.0 for n in names], width, label="baseline")
    ax_bar.bar([x + width / 2 for x in xs], [result.get(n) or 0.0 for n in names], width, label="tuned")
    ax_bar.set_xticks(list(xs), names, rotation=30, ha="right")
    ax_bar.set_title("held-out metrics")
    ax_bar.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    # Fixed metadata so the same numbers give the same bytes (and the same hash).
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
