"""The file-store port: where photo bytes live (the local filesystem in embedded mode, object storage later)."""

from __future__ import annotations

from typing import Protocol


class FileStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store `data` under `key` (sanitised by the store) and return the path to keep in the DB.
        Putting the same key again replaces the bytes (a retried download is idempotent)."""
        ...

    def get(self, path: str) -> bytes:
        """The bytes at a path `put` returned. FileNotFoundError when missing; ValueError for a path
        that `put` could not have returned (traversal, absolute)."""
        ...

    def delete(self, path: str) -> None:
        """Remove the bytes at `path`; deleting a missing path is not an error."""
        ...
