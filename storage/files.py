"""Photo bytes on the local filesystem (embedded mode): the `FileStore` port of core/ports.py.

Keys are sanitised into a relative path under `root`: split on / and \\, each part reduced to
[A-Za-z0-9._-] (anything else becomes _), leading dots dropped (no `..`, no hidden files), empty parts
removed, each part at most 100 characters and the whole path at most 200 (photos.path is String(256)).
`get` and `delete` accept only a path `put` could have returned, and every resolved path is checked to
stay inside `root` (a symlink planted inside the store cannot lead out of it).
Writes are atomic: a temporary file in the same directory, fsync, then rename over the target.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

MAX_PART = 100
MAX_PATH = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sanitize_key(key: str) -> str:
    """A safe relative POSIX path for `key`; ValueError when nothing usable is left."""
    if not isinstance(key, str):
        raise ValueError("key must be a string")
    parts = []
    for raw in re.split(r"[/\\]+", key):
        part = _UNSAFE.sub("_", raw).lstrip(".")[:MAX_PART].rstrip(".")
        if part and part.strip("_"):
            parts.append(part)
    path = "/".join(parts)
    if not path:
        raise ValueError(f"unusable file key: {key!r}")
    if len(path) > MAX_PATH:
        raise ValueError(f"file key too long: {len(path)} characters")
    return path


class LocalFileStore:
    """Files under one root directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()

    def _locate(self, path: str) -> Path:
        if not isinstance(path, str) or sanitize_key(path) != path:
            raise ValueError(f"not a stored path: {path!r}")
        target = self.root / path
        real = target.resolve()
        if not real.is_relative_to(self._real_root) or real == self._real_root:
            raise ValueError(f"path leaves the store: {path!r}")
        return target

    def put(self, key: str, data: bytes) -> str:
        path = sanitize_key(key)
        target = self._locate(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self._real_root):
            raise ValueError(f"path leaves the store: {path!r}")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def get(self, path: str) -> bytes:
        return self._locate(path).read_bytes()

    def delete(self, path: str) -> None:
        self._locate(path).unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        return self._locate(path).is_file()
