"""Photo bytes on the local filesystem (embedded mode): the `FileStore` port of core/ports.py.

Keys are sanitised into a relative path under `root`: split on / and \\, each part reduced to
[A-Za-z0-9._-] (anything else becomes _), leading dots dropped (no `..`, no hidden files), empty parts
removed, each part at most 100 characters and the whole path at most 200 (photos.path is String(256)).
`get` and `delete` accept only a path `put` could have returned, and every resolved path is checked to
stay inside `root` (a symlink planted inside the store cannot lead out of it).
Writes are atomic: a temporary file in the same directory, fsync, then rename over the target.

Data at rest is private to the service's account: every folder this module creates is 0700 and every file
0600 (`private_dir`, `private_file`; the database and the bundled Redis use them too).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

MAX_PART = 100
MAX_PATH = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path | str) -> Path:
    """`path` and any missing parent, each created 0700 (Path.mkdir(parents=True) would give the parents the
    umask's default); folders that already exist are left as they are."""
    path = Path(path)
    missing = []
    for p in (path, *path.parents):
        if p.is_dir():
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            os.mkdir(p, PRIVATE_DIR)
        except FileExistsError:
            pass  # made meanwhile by another process
    return path


def private_file(path: Path | str) -> Path:
    """`path` created empty with mode 0600 when missing, or an existing one stripped of group and other access."""
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    tighten(path)
    return path


def tighten(path: Path | str) -> None:
    """Remove group and other access from an existing file or folder (nothing when it is missing)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o7700)


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
        self.root = private_dir(root)
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
        private_dir(target.parent)
        if not target.parent.resolve().is_relative_to(self._real_root):
            raise ValueError(f"path leaves the store: {path!r}")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")  # mode 0600
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
