"""Tiny causal LMs that exist without a network.

Tests, the demo and the examples need a real model and a real tokenizer, but
never a model hub. ``build_tiny_model`` makes both from scratch: a byte-level
BPE tokenizer trained locally with ``tokenizers`` and a Llama-style model with
random (seeded) weights, saved with ``save_pretrained`` so every consumer
loads it with ``from_pretrained`` exactly like a downloaded one.

The tokenizer is built the way a careful chat model's should be, because the
data checks are tested against it: special tokens registered as special, a pad
token distinct from EOS, BOS added by the tokenizer for plain text, and a chat
template whose assistant turns sit in ``{% generation %}`` blocks that include
the end-of-turn token, so assistant-only loss trains the model to stop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"
UNK = "<unk>"
END_OF_TURN = "<|end|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK, END_OF_TURN, *ROLE_TOKENS)

# The assistant's end-of-turn token is inside the generation block: it is
# what the model must learn to emit, so it must carry loss.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Used when no text is given: enough variety for a few hundred merges.
_DEFAULT_CORPUS = """\
The quick brown fox jumps over the lazy dog. A tiny model learns nothing useful,
but it loads, trains and generates like a large one, which is all a test needs.
What is two plus three? Two plus three is five. What is the capital of France?
The capital of France is Paris. Please answer briefly and stop when you are done.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 42 100 1000. Yes. No. Maybe. Thanks!
User asks a question; the assistant answers it. System messages set the tone.
Translate to French: hello -> bonjour, cat -> chat, dog -> chien, thank you -> merci.
Summarize: the meeting moved to Tuesday because the room was booked on Monday.
"""


@dataclass(frozen=True, slots=True)
class TinySpec:
    """Architecture of a tiny model; defaults keep a CPU test fast."""

    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    seed: int = 0
    # None: 1/sqrt(hidden_size); see build_tiny_model for why not 0.02.
    initializer_range: float | None = None


def iter_text(path: Path) -> Iterator[str]:
    """Strings to train a tokenizer on: a text file's lines, or every string in a dataset file."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json":
            yield from _strings(json.loads(text))
            return
        for line in text.splitlines():
            if line.strip():
                try:
                    yield from _strings(json.loads(line))
                except json.JSONDecodeError:
                    yield line
        return
    if suffix in (".csv", ".parquet"):
        import datasets

        kind = "csv" if suffix == ".csv" else "parquet"
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
        for row in ds:
            yield from _strings(row)
        return
    yield from path.read_text(encoding="utf-8").splitlines()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def build_tokenizer(texts: list[str], *, vocab_size: int = 512) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    # Byte-level: every string encodes, so no row is ever lost to <unk>.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    bos_id = backend.token_to_id(BOS)
    # Plain text gets a BOS like Llama-family tokenizers; chat rendering adds
    # its own and tokenizes without special tokens, so they never double.
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, bos_id)],
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens=[END_OF_TURN, *ROLE_TOKENS],
        padding_side="right",
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    out: Path,
    *,
    texts: list[str] | None = None,
    spec: TinySpec | None = None,
) -> Path:
    """Write a tiny Llama-style model and its tokenizer to ``out``; returns ``out``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    spec = spec or TinySpec()
    corpus = texts if texts else _DEFAULT_CORPUS.splitlines()
    tokenizer = build_tokenizer(corpus, vocab_size=spec.vocab_size)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        # Untied, so the output head has its own scale and a LoRA on the
        # linear layers (which never touches the head) can move the logits
        # by changing the hidden state alone.
        tie_word_embeddings=False,
        # 0.02 is a width-specific default (about 1/sqrt(2500), for models
        # thousands wide). At width 64 it leaves every logit within about
        # +-1.3 of the others, so no adapter can make one answer likely and
        # the examples ended near chance. 1/sqrt(width) gives head rows of
        # norm 1 and logits that can separate.
        initializer_range=spec.initializer_range or spec.hidden_size**-0.5,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    # Generation stops at either the plain EOS or the chat end-of-turn token.
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        bos_token_id=ids[BOS],
        eos_token_id=[ids[EOS], ids[END_OF_TURN]],
        pad_token_id=ids[PAD],
        do_sample=False,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
