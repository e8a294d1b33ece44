"""Train the Rasa model when the data or config changed since the last training.

    python -m bot.tools.train          # train if needed, print the model path
    python -m bot.tools.train --force

The fingerprint is a SHA-256 over config.yml, domain.yml, every file under
data/, the generated NLU assets and our NLU components' source, stored next to
the model. Rasa's own fingerprinting would also skip work, but only after
loading TensorFlow and the old model; this check takes milliseconds.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT

MODEL_NAME = "shop"
INPUTS = ("config.yml", "domain.yml", "data", "models/assets", "bot/nlu")


def fingerprint(root: Path = PROJECT_ROOT, inputs: tuple[str, ...] = INPUTS) -> str:
    digest = hashlib.sha256()
    for name in inputs:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def model_path(models_dir: Path) -> Path:
    return models_dir / f"{MODEL_NAME}.tar.gz"


def train_if_needed(models_dir: Path, force: bool = False) -> Path:
    target = model_path(models_dir)
    stamp = models_dir / f"{MODEL_NAME}.fingerprint"
    wanted = fingerprint()
    if not force and target.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        print(f"==> model up to date: {target}")
        return target
    print("==> training the model (data or config changed)")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--fixed-model-name", MODEL_NAME, "--out", str(models_dir)],
        cwd=PROJECT_ROOT, check=True,
    )
    stamp.write_text(wanted)
    print(f"==> trained {target} in {time.monotonic() - started:.0f} s")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description="train the Rasa model when inputs changed")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--models-dir", type=Path, default=PROJECT_ROOT / "models")
    args = parser.parse_args()
    train_if_needed(args.models_dir, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
