"""A training run that knows nothing about ftgate: plain PyTorch, no Trainer.

It learns which thing goes with a colour ("red 17" -> "apple") with a bag
of word embeddings and a linear layer, then writes what
`ftgate evidence attach` records:

    OUT/generations.jsonl  every held-out prompt, its reference, the trained
                           model's output and the untrained model's (baseline)
    OUT/metrics.json       the numbers this script claims
    OUT/model.pt           the trained weights

    python train_plain.py --config config.yaml --data data --out out
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml


def read_rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class BagOfWords(torch.nn.Module):
    def __init__(self, vocab: int, labels: int, dim: int) -> None:
        super().__init__()
        self.embed = torch.nn.EmbeddingBag(vocab, dim, mode="mean")
        self.head = torch.nn.Linear(dim, labels)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids, offsets))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = yaml.safe_load(args.config.read_text(encoding="utf-8"))["trainer"]
    torch.manual_seed(settings["seed"])
    train, held_out = read_rows(args.data / "train.jsonl"), read_rows(args.data / "eval.jsonl")

    words = sorted({w for row in train + held_out for w in row["prompt"].split()})
    vocab = {w: i for i, w in enumerate(words)}
    labels = sorted({row["reference"] for row in train})

    def batch(rows: list[dict[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, offsets = [], []
        for row in rows:
            offsets.append(len(ids))
            ids += [vocab[w] for w in row["prompt"].split()]
        return torch.tensor(ids), torch.tensor(offsets)

    def predict(model: BagOfWords, rows: list[dict[str, str]]) -> list[str]:
        with torch.no_grad():
            return [labels[i] for i in model(*batch(rows)).argmax(-1).tolist()]

    model = BagOfWords(len(vocab), len(labels), settings["embedding_dim"])
    baseline = predict(model, held_out)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    targets = torch.tensor([labels.index(row["reference"]) for row in train])
    inputs = batch(train)
    for _ in range(settings["steps"]):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(*inputs), targets)
        loss.backward()
        optimizer.step()
    tuned = predict(model, held_out)

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "generations.jsonl").open("w", encoding="utf-8") as f:
        for row, out, base in zip(held_out, tuned, baseline, strict=True):
            f.write(json.dumps({"prompt": row["prompt"], "reference": row["reference"],
                                "output": out, "baseline": base}) + "\n")

    def exact(outputs: list[str]) -> float:
        return sum(o == r["reference"] for o, r in zip(outputs, held_out, strict=True)) / len(held_out)

    claimed = {"result": {"exact_match": exact(tuned), "train_loss": loss.item()},
               "baseline": {"exact_match": exact(baseline)}}
    (args.out / "metrics.json").write_text(json.dumps(claimed, indent=2) + "\n", encoding="utf-8")
    torch.save(model.state_dict(), args.out / "model.pt")
    print(json.dumps(claimed))


if __name__ == "__main__":
    main()
