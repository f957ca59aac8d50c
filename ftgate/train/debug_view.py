"""A token-by-token view of prepared examples, so a person can see the mask.

Loss masks are invisible in loss curves; the fastest way to catch a template
that trains on the prompt or never on the end-of-turn token is to look at a
few examples token by token. Colored on a terminal (trained tokens green,
masked ones dim), plain text with an explicit column otherwise.
"""

from __future__ import annotations

from typing import Any

_GREEN = "\x1b[42;30m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"


def render_samples(encoded: Any, tokenizer: Any, *, count: int, color: bool, max_length: int | None = None) -> str:
    """The first ``count`` sequences of an ``EncodedSplit`` as token tables.

    Tokens past ``max_length`` are marked ``cut`` because training never sees
    them.
    """
    out: list[str] = []
    for seq in range(min(count, encoded.n_seq)):
        ids = encoded.seq_ids(seq).tolist()
        trained = encoded.seq_trained(seq).tolist()
        pieces = tokenizer.convert_ids_to_tokens(ids)
        n_trained = sum(trained)
        row = encoded.rows[int(encoded.seq_row[seq])]
        which = " (rejected)" if encoded.seq_target.size and int(encoded.seq_target[seq]) == 1 else ""
        out.append(f"== {encoded.name} sample {seq + 1}: {row.source}{which}: {len(ids)} tokens, {n_trained} trained")
        out.append(f"{'pos':>5}  {'id':>7}  {'loss':<5} token")
        for pos, (token_id, piece, is_trained) in enumerate(zip(ids, pieces, trained, strict=True)):
            cut = max_length is not None and pos >= max_length
            mark = "cut" if cut else ("train" if is_trained else "-")
            shown = repr(piece)
            if color:
                shown = f"{_GREEN}{shown}{_RESET}" if is_trained and not cut else f"{_DIM}{shown}{_RESET}"
            out.append(f"{pos:>5}  {token_id:>7}  {mark:<5} {shown}")
        out.append("")
    if not out:
        out.append(f"({encoded.name}: no samples)")
    return "\n".join(out)
