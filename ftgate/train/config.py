"""The run config: one YAML file per run, validated before anything heavy loads.

The config is the reproducibility record's anchor, so it is strict: unknown
keys are refused (with the closest known key suggested), and every value that
changes the prepared data is hashed into the manifest. Paths are kept exactly
as written (relative to the config's folder) so the config's hash does not
depend on where the repository is checked out; ``RunConfig.path()`` resolves
them.

Only pydantic and pyyaml are imported at module level; the TRL/PEFT mapping
imports its libraries inside the functions that need them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ftgate.errors import FtgateError
from ftgate.evidence.criteria import (
    EvaluationConfig,
    SuccessCriterion,
    check_criteria_metrics,
)
from ftgate.hashing import sha256_json
from ftgate.yamlmodel import YamlSyntaxError, parse_yaml, validate

RUN_ID = re.compile(r"^RUN-\d{3,}$")

Objective = Literal["sft", "dpo", "grpo"]
Strategy = Literal["full", "lora", "qlora"]
# Experiment trackers that write to local files only: a run must not need a
# server or a network, and its logs sit beside its outputs.
LoggingBackend = Literal["none", "tensorboard", "mlflow"]
DataFormat = Literal["messages", "prompt_completion", "preference"]
Dtype = Literal["float32", "bfloat16", "float16", "auto"]

# Which formats each objective can consume; the first is the default.
OBJECTIVE_FORMATS: dict[str, tuple[str, ...]] = {
    "sft": ("messages", "prompt_completion"),
    "dpo": ("preference",),
    # GRPO learns from rewards; the completion is the reference answer that
    # exact-match rewards and the held-out metrics compare against.
    "grpo": ("prompt_completion",),
}
# Names the workflow's Stage 3/5 tables use for these tokens.
OBJECTIVE_TYPE = {"sft": "Supervised Fine-Tuning", "dpo": "Preference Optimization",
                  "grpo": "Reinforcement-Style Training"}
STRATEGY_TYPE = {"full": "Full-Parameter", "lora": "Adapter-Based", "qlora": "Quantized Adapter-Based"}

TEMPLATE_FROM_TOKENIZER = "tokenizer"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettings(_Section):
    base: str = Field(description="A local folder (relative to the config) or a hub id.")
    output_dir: str = Field(
        description="Where checkpoints and adapters go; keep it outside git (weights are not source)."
    )
    dtype: Dtype | None = Field(
        default=None,
        description="Weight dtype when loading: float32 | bfloat16 | float16 | auto (the checkpoint's). "
        "Unset: float32 for full fine-tuning (pure bf16 updates lose small steps), auto for adapters.",
    )
    compute_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16", description="QLoRA only: the dtype 4-bit layers compute in."
    )
    attn_implementation: str | None = Field(
        default=None, description="eager | sdpa | flash_attention_2 | ...; unset: the library's choice."
    )
    trust_remote_code: bool = Field(
        default=False, description="Run code shipped with the model; off unless you trust its source."
    )

    @field_validator("base", "output_dir")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class LoraSettings(_Section):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field(
        default="all-linear", description='"all-linear" or a list of module names (e.g. q_proj, v_proj).'
    )
    bias: Literal["none", "all", "lora_only"] = "none"
    use_rslora: bool = False
    use_dora: bool = False
    modules_to_save: list[str] | None = None


class DataSettings(_Section):
    train: list[str] = Field(
        description="Training data: .jsonl, .json, .csv or .parquet files, a `save_to_disk` folder or a hub "
        "dataset id; `SOURCE:SPLIT` picks a split (default: train)."
    )
    eval: list[str] = Field(description="Held-out data, never trained on; same forms as `train`.")
    format: DataFormat | None = Field(
        default=None,
        description="messages | prompt_completion | preference; defaults from the objective.",
    )
    prepared_dir: str = Field(description="Where `ftgate data prepare` writes the dataset and manifest.")

    @field_validator("train", "eval", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("train", "eval")
    @classmethod
    def _known_suffix(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one file")
        for name in value:
            source, _ = split_source(name)
            if not source.strip():
                raise ValueError(f"{name!r}: name a file, a dataset folder or a hub dataset id")
            if data_file_kind(source) is None and source.lower().endswith(_NOT_DATASETS):
                raise ValueError(
                    f"{name!r}: unsupported file type; use .jsonl, .json, .csv or .parquet, "
                    "a `save_to_disk` folder or a hub dataset id"
                )
        return value


class TrainingSettings(_Section):
    """Hyperparameters; names follow TRL/transformers so they map one to one."""

    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, ge=-1, description="-1: run num_train_epochs instead.")
    learning_rate: float = Field(default=2e-4, gt=0)
    per_device_train_batch_size: int = Field(default=8, ge=1)
    per_device_eval_batch_size: int = Field(default=8, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    lr_scheduler_type: str = "linear"
    warmup_steps: float = Field(default=0, ge=0, description="Steps, or a fraction of all steps when below 1.")
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    optim: str = "adamw_torch"
    logging_steps: float = Field(default=10, gt=0)
    save_steps: float = Field(default=500, gt=0)
    save_total_limit: int | None = Field(default=None, ge=1)
    eval_steps: float | None = Field(default=None, gt=0, description="Evaluate the loss every N steps; off when unset.")
    activation_checkpointing: bool = Field(
        default=False, description="Recompute activations in the backward pass to save memory."
    )


class DpoSettings(_Section):
    beta: float = Field(default=0.1, gt=0)
    loss_type: list[str] = Field(default_factory=lambda: ["sigmoid"])

    @field_validator("loss_type", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


_DOTTED = re.compile(r"^[A-Za-z_][\w.]*[.:][A-Za-z_]\w*$")


class RewardSpec(_Section):
    """One reward function for GRPO; the rewards of a completion are summed with their weights."""

    type: Literal["exact_match", "regex", "length", "function"]
    name: str | None = Field(default=None, description="Label in logs and evidence; defaults from the type.")
    weight: float = 1.0
    pattern: str | None = Field(default=None, description="regex: the completion must match it (re.fullmatch).")
    target: int | None = Field(
        default=None, ge=1, description="length: the wanted length in characters; credit falls off linearly."
    )
    function: str | None = Field(
        default=None,
        description="function: `package.module:name` (or dotted) in the repository; called as "
        "f(prompts, completions, references) -> list[float].",
    )

    @model_validator(mode="after")
    def _needs(self) -> RewardSpec:
        needed = {"regex": "pattern", "length": "target", "function": "function"}.get(self.type)
        for key in ("pattern", "target", "function"):
            if getattr(self, key) is not None and key != needed:
                raise ValueError(f"`{key}` does not apply to a `{self.type}` reward")
        if needed and getattr(self, needed) is None:
            raise ValueError(f"a `{self.type}` reward needs `{needed}`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"`pattern` is not a valid regular expression: {exc}") from None
        if self.function is not None and not _DOTTED.match(self.function):
            raise ValueError(f"`function` {self.function!r} must look like package.module:name")
        return self

    def label(self) -> str:
        return self.name or (self.function.replace(":", ".") if self.function else self.type)


class GrpoSettings(_Section):
    """Group Relative Policy Optimization (TRL ``GRPOTrainer``)."""

    rewards: list[RewardSpec] = Field(min_length=1)
    num_generations: int = Field(default=4, ge=2, description="Completions sampled per prompt (the group).")
    max_completion_length: int = Field(default=16, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    beta: float = Field(default=0.0, ge=0, description="KL penalty against the base model; 0 skips the reference.")

    @model_validator(mode="after")
    def _unique_labels(self) -> GrpoSettings:
        labels = [r.label() for r in self.rewards]
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise ValueError(f"reward name(s) {', '.join(repeated)} repeat; give each a distinct `name`")
        return self


class LeakageThresholds(_Section):
    max_exact: int = Field(default=0, ge=0, description="Held-out prompts allowed to repeat a training prompt exactly.")
    max_normalized: int = Field(default=0, ge=0, description="Allowed repeats after folding case and whitespace.")


class TruncationThresholds(_Section):
    max_cut_fraction: float = Field(
        default=0.0, ge=0, le=1, description="Share of examples whose target may be cut short by max_length."
    )
    max_removed_fraction: float = Field(
        default=0.0, ge=0, le=1, description="Share of examples whose target may vanish entirely (they are dropped)."
    )


class RowThresholds(_Section):
    max_bad_rows: int = Field(default=0, ge=0, description="Malformed rows, wrong roles or empty targets tolerated.")


class ChecksSettings(_Section):
    leakage: LeakageThresholds = Field(default_factory=LeakageThresholds)
    truncation: TruncationThresholds = Field(default_factory=TruncationThresholds)
    rows: RowThresholds = Field(default_factory=RowThresholds)


class RunConfig(_Section):
    """One training run. ``ftgate train schema`` prints this model's JSON Schema."""

    run_id: str = Field(description="RUN-### from the implementation plan's run matrix.")
    purpose: str
    ticket: str = Field(description="The ticket folder name this run belongs to.")
    objective: Objective
    model: ModelSettings
    strategy: Strategy
    lora: LoraSettings | None = None
    data: DataSettings
    template: str = Field(
        default=TEMPLATE_FROM_TOKENIZER,
        description='"tokenizer" for the tokenizer\'s own chat template, or a .jinja file.',
    )
    max_length: int = Field(default=1024, ge=8)
    packing: bool = False
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    dpo: DpoSettings | None = None
    grpo: GrpoSettings | None = None
    seed: int = Field(default=42, ge=0)
    checks: ChecksSettings = Field(default_factory=ChecksSettings)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    success_criteria: list[SuccessCriterion] = Field(default_factory=list)
    logging: LoggingBackend = Field(
        default="none",
        description="Experiment log beside the run's outputs: tensorboard event files, "
        "an mlflow file store (offline), or none.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str) -> str:
        if not RUN_ID.match(value):
            raise ValueError(f"{value!r} must look like RUN-001")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> RunConfig:
        allowed = OBJECTIVE_FORMATS[self.objective]
        if self.data.format is None:
            self.data.format = allowed[0]  # type: ignore[assignment]
        elif self.data.format not in allowed:
            raise ValueError(
                f"objective {self.objective!r} needs data.format {' or '.join(allowed)}, not {self.data.format!r}"
            )
        if self.strategy in ("lora", "qlora") and self.lora is None:
            self.lora = LoraSettings()
        if self.strategy == "full" and self.lora is not None:
            raise ValueError("`lora` settings given but strategy is `full`; drop one of them")
        if self.objective == "dpo" and self.dpo is None:
            self.dpo = DpoSettings()
        if self.objective != "dpo" and self.dpo is not None:
            raise ValueError("`dpo` settings only apply to objective `dpo`")
        if self.model.compute_dtype != "bfloat16" and self.strategy != "qlora":
            raise ValueError("`model.compute_dtype` only applies to strategy `qlora`; use `model.dtype`")
        if self.strategy == "qlora" and self.model.dtype is not None:
            raise ValueError("strategy `qlora` loads 4-bit weights; set `model.compute_dtype`, not `model.dtype`")
        if self.objective == "grpo" and self.grpo is None:
            raise ValueError("objective `grpo` needs a `grpo:` section with at least one reward")
        if self.objective != "grpo" and self.grpo is not None:
            raise ValueError("`grpo` settings only apply to objective `grpo`")
        if self.grpo is not None:
            per_step = self.training.per_device_train_batch_size * self.training.gradient_accumulation_steps
            if per_step % self.grpo.num_generations:
                raise ValueError(
                    f"training.per_device_train_batch_size x gradient_accumulation_steps ({per_step}) must be a "
                    f"multiple of grpo.num_generations ({self.grpo.num_generations}): each prompt's group of "
                    "completions is compared within one batch"
                )
        if self.packing and self.objective != "sft":
            raise ValueError("packing only applies to objective `sft`")
        problems = check_criteria_metrics(self.success_criteria, self.evaluation)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- paths -------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> Path | None:
        return self._source

    def path(self, value: str) -> Path:
        """A path from the config, resolved against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self._base_dir / p)

    def train_files(self) -> list[Path]:
        """Local data (files and dataset folders); hub datasets are hashed by content in the manifest."""
        return [self.path(src) for src, _ in map(split_source, self.data.train) if self.source_kind(src) != "hub"]

    def eval_files(self) -> list[Path]:
        return [self.path(src) for src, _ in map(split_source, self.data.eval) if self.source_kind(src) != "hub"]

    def source_kind(self, source: str) -> Literal["file", "folder", "hub"]:
        """How a data source (without its split) is read: a file, a `save_to_disk` folder, or a hub id."""
        if data_file_kind(source) is not None:
            return "file"
        looks_like_path = source.startswith((".", "/", "~")) or "\\" in source
        if looks_like_path or self.path(source).exists():
            return "folder"
        return "hub"

    def prepared_dir(self) -> Path:
        return self.path(self.data.prepared_dir)

    def output_dir(self) -> Path:
        return self.path(self.model.output_dir)

    def template_file(self) -> Path | None:
        if self.template == TEMPLATE_FROM_TOKENIZER:
            return None
        return self.path(self.template)

    def base_model(self) -> tuple[str, bool]:
        """``(where, is_local)``: a resolved folder, or a hub id left as written."""
        base = self.model.base
        local = self.path(base)
        looks_like_path = base.startswith((".", "/", "~")) or "\\" in base
        if looks_like_path or local.exists():
            return str(local), True
        return base, False

    # -- hashes ------------------------------------------------------------

    def config_hash(self) -> str:
        """Hash of the whole validated config (formatting and comments do not count)."""
        return sha256_json(self.model_dump(mode="json"))

    def preparation_hash(self) -> str:
        """Hash of only what shapes the prepared data.

        A new learning rate must not invalidate prepared data; a new max
        length or template must.
        """
        dumped = self.model_dump(mode="json")
        keep = ("objective", "model", "data", "template", "max_length", "packing", "checks")
        subset = {k: dumped[k] for k in keep}
        subset["model"] = {"base": dumped["model"]["base"]}
        return sha256_json(subset)


# Suffixes that are files, just not ones we read; without this "data.txt"
# would be taken for a hub dataset id and fail later with a worse message.
_NOT_DATASETS = (".txt", ".tsv", ".xls", ".xlsx", ".yaml", ".yml", ".gz", ".zip", ".tar", ".md", ".arrow")
_SPLIT_SUFFIX = re.compile(r"^(?P<source>.+):(?P<split>[A-Za-z0-9_.-]+)$")


def split_source(name: str) -> tuple[str, str | None]:
    """``"org/data:test"`` -> ``("org/data", "test")``; no split -> ``(name, None)``.

    A Windows drive (``C:\\x``) never matches: the split part allows no slashes.
    """
    match = _SPLIT_SUFFIX.match(name)
    if match is None or data_file_kind(match["split"]) is not None:
        return name, None
    return match["source"], match["split"]


def data_file_kind(name: str) -> str | None:
    """The `datasets` builder for a data file name, or None if unsupported."""
    lower = name.lower()
    for suffix, kind in ((".jsonl", "json"), (".json", "json"), (".csv", "csv"), (".parquet", "parquet")):
        if lower.endswith(suffix):
            return kind
    return None


# -- loading ---------------------------------------------------------------


def load_config(path: Path | str) -> RunConfig:
    """Read and validate a run config; every problem is an FtgateError naming file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FtgateError(f"{path}: no such config file", hint="check the path, or see examples/train/") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FtgateError(f"{path}: cannot read the config: {exc}") from None
    try:
        raw = parse_yaml(text, str(path))
    except YamlSyntaxError as exc:
        raise FtgateError(
            f"{exc.label}:{exc.line}: not valid YAML: {exc.problem}"
            if exc.line is not None
            else f"{exc.label}: not valid YAML: {exc.problem}"
        ) from None
    if not isinstance(raw, dict):
        raise FtgateError(
            f"{path}: a run config is a YAML mapping (run_id: ..., objective: ...)",
            hint="start from one of the files in examples/train/",
        )
    config = _validated(raw, path, text)
    config._base_dir = path.resolve().parent
    config._source = path
    return config


def config_from_dict(raw: dict[str, Any], *, base_dir: Path) -> RunConfig:
    """Validate an in-memory config (tests, generated configs) as if it lived in ``base_dir``."""
    config = _validated(raw, Path("<config>"), None)
    config._base_dir = Path(base_dir).resolve()
    return config


def json_schema() -> dict[str, Any]:
    return RunConfig.model_json_schema()


def _validated(raw: dict[str, Any], path: Path, text: str | None) -> RunConfig:
    parsed = validate(RunConfig, raw, text)
    if parsed.model is not None:
        return parsed.model
    lines = [f"{path}: the run config is not valid:"]
    for issue in parsed.issues:
        # A required top-level key has no line of its own; point at the document.
        line = issue.line if issue.line is not None or text is None else 1
        where = f"line {line}, " if line else ""
        if issue.kind == "extra_forbidden":
            message = f"unknown key `{issue.loc[-1]}`"
            if issue.suggestion:
                message += f"; did you mean `{issue.suggestion}`?"
            else:
                message += "; see `ftgate train schema` for the keys this section takes"
        elif issue.kind == "missing":
            message = "required key is missing"
        else:
            message = issue.message
        lines.append(f"  {where}`{issue.key}`: {message}")
    raise FtgateError("\n".join(lines))


# -- mapping onto TRL / PEFT -----------------------------------------------


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def check_strategy_supported(config: RunConfig) -> None:
    """Refuse, early and in words, a strategy this machine cannot run."""
    if config.strategy != "qlora":
        return
    if not cuda_available():
        raise FtgateError(
            "strategy `qlora` needs a CUDA device: 4-bit quantized training runs only on GPU",
            hint="use `strategy: lora` on this machine, or run on a host with a CUDA GPU",
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise FtgateError(
            "strategy `qlora` needs the bitsandbytes package, which is not installed",
            hint="pip install bitsandbytes (or use `strategy: lora`)",
        )


# The module each logging backend needs, and the package that provides it.
_LOGGING_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow-skinny")}


def check_logging_supported(config: RunConfig) -> None:
    """Refuse a tracker that is not installed before a run id is claimed, not after training."""
    if config.logging == "none":
        return
    import importlib.util

    module, package = _LOGGING_PACKAGES[config.logging]
    if importlib.util.find_spec(module) is None:
        where = f" in {config.source}" if config.source else ""
        raise FtgateError(
            f"`logging: {config.logging}`{where} needs the {package} package, which is not installed",
            hint=f"pip install 'ftgate-workflow[logging]' (or {package}), or set `logging: none`",
        )


def trainer_kwargs(config: RunConfig, *, cuda: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for TRL 1.x ``SFTConfig`` or ``DPOConfig``.

    Plain data so it can be logged and hashed; ``trainer_args`` builds the
    object. ``cuda`` defaults to what torch reports.
    """
    if cuda is None:
        cuda = cuda_available()
    t = config.training
    kwargs: dict[str, Any] = {
        "output_dir": str(config.output_dir()),
        "run_name": config.run_id,
        "seed": config.seed,
        "data_seed": config.seed,
        "max_length": config.max_length,
        "num_train_epochs": t.num_train_epochs,
        "max_steps": t.max_steps,
        "learning_rate": t.learning_rate,
        "per_device_train_batch_size": t.per_device_train_batch_size,
        "per_device_eval_batch_size": t.per_device_eval_batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "lr_scheduler_type": t.lr_scheduler_type,
        "warmup_steps": t.warmup_steps,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "optim": t.optim,
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "eval_strategy": "steps" if t.eval_steps else "no",
        "eval_steps": t.eval_steps,
        "activation_checkpointing": t.activation_checkpointing,
        "report_to": "none" if config.logging == "none" else [config.logging],
        # Our own truncation is the one the checks measured; TRL's keep_start
        # matches it, so its pass over the data is a no-op.
        "truncation_mode": "keep_start",
        "use_cpu": not cuda,
        "bf16": bool(cuda and _bf16_supported()),
        "fp16": False,
    }
    if config.objective == "sft":
        kwargs["packing"] = config.packing
        # Labels are built by `ftgate data prepare`; TRL must use them as they are.
        kwargs["assistant_only_loss"] = False
        kwargs["completion_only_loss"] = None
    elif config.objective == "dpo":
        assert config.dpo is not None
        kwargs["beta"] = config.dpo.beta
        kwargs["loss_type"] = list(config.dpo.loss_type)
    else:
        assert config.grpo is not None
        g = config.grpo
        # GRPOConfig is TrainingArguments plus its own fields: no max_length
        # or truncation (the prompts were checked by `ftgate data prepare`).
        for key in ("max_length", "truncation_mode"):
            kwargs.pop(key)
        kwargs.update(
            num_generations=g.num_generations,
            max_completion_length=g.max_completion_length,
            temperature=g.temperature,
            beta=g.beta,
            reward_weights=[r.weight for r in g.rewards],
            # Held-out rewards are measured by ftgate on greedy outputs, before
            # and after; TRL's sampled eval pass would only cost time.
            eval_strategy="no",
            eval_steps=None,
            log_completions=False,
        )
    return kwargs


def trainer_args(config: RunConfig, *, cuda: bool | None = None) -> Any:
    """A TRL ``SFTConfig`` or ``DPOConfig`` for this run."""
    check_strategy_supported(config)
    kwargs = trainer_kwargs(config, cuda=cuda)
    if config.objective == "sft":
        from trl import SFTConfig  # type: ignore[attr-defined]

        return SFTConfig(**kwargs)
    if config.objective == "grpo":
        from trl import GRPOConfig  # type: ignore[attr-defined]

        return GRPOConfig(**kwargs)
    from trl import DPOConfig  # type: ignore[attr-defined]

    return DPOConfig(**kwargs)


def lora_kwargs(config: RunConfig) -> dict[str, Any] | None:
    if config.strategy == "full" or config.lora is None:
        return None
    lo = config.lora
    return {
        "task_type": "CAUSAL_LM",
        "r": lo.r,
        "lora_alpha": lo.alpha,
        "lora_dropout": lo.dropout,
        "target_modules": lo.target_modules,
        "bias": lo.bias,
        "use_rslora": lo.use_rslora,
        "use_dora": lo.use_dora,
        "modules_to_save": lo.modules_to_save,
    }


def peft_config(config: RunConfig) -> Any:
    """A PEFT ``LoraConfig``, or None for full-parameter training."""
    kwargs = lora_kwargs(config)
    if kwargs is None:
        return None
    from peft import LoraConfig

    return LoraConfig(**kwargs)


def quantization_config(config: RunConfig) -> Any:
    """A 4-bit ``BitsAndBytesConfig`` for qlora, else None."""
    if config.strategy != "qlora":
        return None
    check_strategy_supported(config)
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, config.model.compute_dtype),
    )


def load_dtype(config: RunConfig) -> str | None:
    """The dtype the base weights load in (None: quantized, the 4-bit config decides)."""
    if config.strategy == "qlora":
        return None
    if config.model.dtype is not None:
        return config.model.dtype
    return "float32" if config.strategy == "full" else "auto"


def model_load_kwargs(config: RunConfig) -> dict[str, Any]:
    """Keyword arguments every ``from_pretrained`` of this run gets."""
    kwargs: dict[str, Any] = {"trust_remote_code": config.model.trust_remote_code}
    dtype = load_dtype(config)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if config.model.attn_implementation is not None:
        kwargs["attn_implementation"] = config.model.attn_implementation
    return kwargs


def _did_you_mean(value: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, choices, n=1)
    return f"did you mean `{close[0]}`? " if close else ""


def installed_choices() -> dict[str, list[str]]:
    """The enum values the installed transformers and TRL accept, read from them."""
    import re as _re

    from transformers import SchedulerType
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.training_args import OptimizerNames
    from trl import DPOConfig  # type: ignore[attr-defined]

    # TRL keeps DPO loss types in the field's help text, not in an enum.
    help_text = str(DPOConfig.__dataclass_fields__["loss_type"].metadata.get("help", ""))
    attention = {"eager", "sdpa"} | {k for key in ALL_ATTENTION_FUNCTIONS for k in key.split("|")}
    return {
        "training.lr_scheduler_type": [e.value for e in SchedulerType],
        "training.optim": [e.value for e in OptimizerNames],
        "dpo.loss_type": sorted(set(_re.findall(r"`'([a-z_0-9]+)'`", help_text))),
        "model.attn_implementation": sorted(attention),
    }


def check_runnable(config: RunConfig) -> None:
    """Everything that can be refused before a run id is claimed, refused here.

    Values TRL or PEFT would reject only mid-run (a misspelt scheduler, an
    optimizer this transformers lacks, a module the model does not have) each
    cost a claimed RUN id and a Failed run; checked against the installed
    libraries, they cost nothing.
    """
    where = config.source or "<config>"
    problems: list[str] = []
    choices = installed_choices()
    values: dict[str, list[str]] = {
        "training.lr_scheduler_type": [config.training.lr_scheduler_type],
        "training.optim": [config.training.optim],
        "dpo.loss_type": list(config.dpo.loss_type) if config.dpo else [],
        "model.attn_implementation": [config.model.attn_implementation] if config.model.attn_implementation else [],
    }
    for key, given in values.items():
        allowed = choices[key]
        if not allowed:
            continue
        for value in given:
            if value not in allowed:
                problems.append(f"`{key}`: {value!r} is not accepted by the installed library; "
                                f"{_did_you_mean(value, allowed)}choices: {', '.join(allowed)}")
    problems += _model_problems(config)
    if config.model.dtype == "float16" and not cuda_available():
        problems.append("`model.dtype`: float16 on a CPU is refused: most CPU kernels lack half precision and "
                        "fp16 training without a GPU loss scaler underflows; use float32 or bfloat16")
    if problems:
        raise FtgateError(f"{where}: this run cannot start:\n  - " + "\n  - ".join(problems),
                          hint="fix the config; no run id was claimed")


def check_base_model(config: RunConfig) -> None:
    """A missing local model folder is a local error, never a hub lookup."""
    problems = _model_path_problems(config)
    if problems:
        raise FtgateError(f"{config.source or '<config>'}: " + problems[0],
                          hint="fix `model.base` (paths are relative to the config's folder)")


def _model_path_problems(config: RunConfig) -> list[str]:
    import difflib
    import os

    base = config.model.base
    where, local = config.base_model()
    if local and not Path(where).is_dir():
        siblings = [p.name for p in Path(where).parent.glob("*") if p.is_dir()] if Path(where).parent.is_dir() else []
        close = difflib.get_close_matches(Path(where).name, siblings, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        return [f"`model.base`: no model folder at {where}{hint}"]
    if not local:
        close = [p.name for p in config.base_dir.glob("*") if p.is_dir()
                 and difflib.SequenceMatcher(None, p.name, base).ratio() >= 0.8]
        if close:
            return [f"`model.base`: {base!r} is not a folder next to the config, but `{close[0]}` is; "
                    f"write `./{close[0]}` for a local model"]
        if os.environ.get("HF_HUB_OFFLINE") == "1" and "/" not in base:
            return [f"`model.base`: {base!r} is neither a local folder nor a hub id (org/name), and the hub "
                    "is offline"]
    return []


def _model_problems(config: RunConfig) -> list[str]:
    problems = _model_path_problems(config)
    if problems or config.lora is None or isinstance(config.lora.target_modules, str):
        return problems
    names = model_module_names(config)
    if names is None:
        return problems
    suffixes = {n.rsplit(".", 1)[-1] for n in names}
    for module in config.lora.target_modules:
        if module not in suffixes and not any(n.endswith("." + module) for n in names):
            problems.append(f"`lora.target_modules`: the model has no module {module!r}; "
                            f"{_did_you_mean(module, sorted(suffixes))}linear layers: "
                            f"{', '.join(sorted(linear_module_names(config) or suffixes))}")
    return problems


def _empty_model(config: RunConfig) -> Any:
    """The model's structure on the meta device: no weights read, no memory used."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    where, _ = config.base_model()
    try:
        model_config = AutoConfig.from_pretrained(where, trust_remote_code=config.model.trust_remote_code)
    except (OSError, ValueError):
        return None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(model_config, trust_remote_code=config.model.trust_remote_code)  # type: ignore[no-untyped-call]


def model_module_names(config: RunConfig) -> list[str] | None:
    model = _empty_model(config)
    return None if model is None else [n for n, _ in model.named_modules() if n]


def linear_module_names(config: RunConfig) -> list[str]:
    import torch

    model = _empty_model(config)
    if model is None:
        return []
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and "lm_head" not in n})


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
