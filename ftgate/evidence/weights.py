"""The base model's weights, hashed so a swap after the run is seen.

Only the files that hold weights (and the config that says how to read
them) count: a tokenizer is hashed on its own, and a README or a cache file
beside the weights changes nothing the model computes.
"""

from __future__ import annotations

from pathlib import Path

from ftgate import hashing

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
WEIGHT_CONFIGS = ("config.json",)


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and (p.name.endswith(WEIGHT_SUFFIXES) or p.name in WEIGHT_CONFIGS))


def weights_hash(path: Path) -> str:
    """One sha256 over the weight files of a model folder (or over one weight file)."""
    if path.is_file():
        return hashing.sha256_file(path)
    return hashing.sha256_files(weight_files(path), root=path)
