"""Stage 4 data preparation: load, render, tokenize, mask, check, write.

The pipeline, in the order the work happens:

1. ``load.read_split``: every source file is hashed and loaded with ``datasets``;
   each row is validated and normalized, and rows that cannot be used are
   kept as problems with their file and line (check 7 reports them).
2. ``encode.encode_split``: rows are rendered with the chat template (one batched
   call into transformers' renderer, which also reports the character spans
   of ``{% generation %}`` blocks) and tokenized in one batched call to the
   fast tokenizer. Per row, Python only touches a handful of span
   boundaries; everything per token is a numpy array.
3. ``ftgate.train.checks`` computes the seven checks on those arrays, on the
   untruncated sequences so template faults are not hidden by truncation.
4. ``prepare.prepare`` truncates like TRL (keep the start), drops what TRL
   would drop and says why (``outputs``), writes a ``datasets`` DatasetDict with ``save_to_disk`` and a
   deterministic ``manifest.json`` (``manifest``).

The prepared SFT splits have ``input_ids`` and ``labels`` (-100 where no loss
is taken): TRL 1.x's SFTTrainer uses a ``labels`` column as it is, so the mask
the checks verified is the mask that trains. Preference splits keep
``prompt``/``chosen``/``rejected`` (TRL's DPOTrainer always tokenizes them
itself, with the same template and the same prefix rule used here) next to
the ``prompt_ids``/``chosen_ids``/``rejected_ids`` the checks looked at.

Each step is its own module and imports only the steps before it, so import
from the module that does the job (``from ftgate.train.data.prepare import
prepare``); this package re-exports nothing.
"""
