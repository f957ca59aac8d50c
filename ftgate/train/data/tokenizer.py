"""The run's tokenizer, its chat template, and the facts about both the evidence records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftgate.errors import FtgateError
from ftgate.hashing import sha256_files
from ftgate.train.config import TEMPLATE_FROM_TOKENIZER, RunConfig
from ftgate.train.data.rows import first_line

# Files in a model folder that decide how text becomes tokens and when generation stops.
TOKENIZER_FILE_PATTERNS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "generation_config.json",
)


@dataclass(slots=True)
class TokenizerInfo:
    tokenizer: Any
    template: str
    template_source: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    generation_eos_ids: list[int]
    files_sha256: str


_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_markers(template: str) -> bool:
    """Whether the template marks assistant turns with ``{% generation %}`` (needed for the loss mask)."""
    return bool(_GENERATION_TAG.search(template))


def load_tokenizer(config: RunConfig) -> Any:
    """The run's tokenizer with the configured chat template installed.

    TRL's DPOTrainer renders with the tokenizer's own template, so training
    code must load the tokenizer through here to see what the checks saw.
    """
    return tokenizer_info(config).tokenizer


def tokenizer_info(config: RunConfig) -> TokenizerInfo:
    from transformers import AutoTokenizer

    from ftgate.train.config import check_base_model

    check_base_model(config)
    where, local = config.base_model()
    if local and not Path(where).is_dir():
        raise FtgateError(
            f"model.base {config.model.base!r} is not a folder (looked at {where})",
            hint="build one offline with `ftgate model tiny --out DIR`, or give a hub id",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=config.model.trust_remote_code)
    except OSError as exc:
        raise FtgateError(
            f"cannot load a tokenizer from {config.model.base!r}: {first_line(exc)}",
            hint="hub ids need a network (or a filled cache); a local folder needs tokenizer files",
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise FtgateError(
            f"the tokenizer of {config.model.base!r} is not a fast tokenizer",
            hint="ftgate needs a tokenizer.json (fast tokenizer) to map characters to tokens",
        )
    template_path = config.template_file()
    if template_path is not None:
        try:
            tokenizer.chat_template = template_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FtgateError(f"template file {config.template!r} cannot be read: {exc}") from None
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template.strip():
        raise FtgateError(
            f"the tokenizer of {config.model.base!r} has no chat template",
            hint="set `template:` to a .jinja file in the config",
        )
    _compile_template(template, config.template)
    folder = Path(where) if local else _cached_snapshot(where)
    files = [folder / name for name in TOKENIZER_FILE_PATTERNS if (folder / name).is_file()]
    return TokenizerInfo(
        tokenizer=tokenizer,
        template=template,
        template_source=config.template,
        bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id,
        pad_id=tokenizer.pad_token_id,
        generation_eos_ids=_generation_eos_ids(where, tokenizer),
        files_sha256=sha256_files(files, root=folder),
    )


def _compile_template(template: str, source: str) -> None:
    """Refuse a template that does not parse, before any row is blamed for it."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template

    try:
        _compile_jinja_template(template)
    except jinja2.TemplateSyntaxError as exc:
        where = "the tokenizer's chat template" if source == TEMPLATE_FROM_TOKENIZER else source
        raise FtgateError(
            f"{where}:{exc.lineno}: the chat template does not parse: {exc.message}",
            hint="fix the Jinja syntax (the {% generation %} tag is allowed)",
        ) from None


def _cached_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=list(TOKENIZER_FILE_PATTERNS)))


def _generation_eos_ids(where: str, tokenizer: Any) -> list[int]:
    """Token ids at which ``generate`` stops for this model."""
    from transformers import GenerationConfig

    try:
        value = GenerationConfig.from_pretrained(where).eos_token_id
    except OSError:
        value = None
    if value is None:
        value = tokenizer.eos_token_id
    if value is None:
        return []
    return sorted({int(v) for v in (value if isinstance(value, list) else [value])})
