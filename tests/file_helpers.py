"""Large test files on disk, written and compared chunk by chunk (a test never needs a 20 MiB file
in its own memory to prove a byte-for-byte transfer)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

MIB = 1024 * 1024


def write_random(path: Path, size: int) -> Path:
    with path.open("wb") as target:
        for start in range(0, size, MIB):
            target.write(os.urandom(min(MIB, size - start)))
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()
