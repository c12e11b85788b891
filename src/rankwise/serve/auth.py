"""API keys: ``Authorization: Bearer KEY``, as the Cohere, Jina and TEI clients send them.

The key file holds one key per line, either as ``sha256:HEX`` (the SHA-256 of the key: nothing secret on disk) or as
the plain key; blank lines and ``#`` comments are skipped. The service keeps only SHA-256 digests in memory, and
compares the digest of a presented key with every stored digest in constant time (``hmac.compare_digest``, no early
exit), so neither the answer's timing nor its content tells how close a guess was.

    printf %s "$KEY" | rankwise serve --hash-key >> keys.txt      # store the hash, not the key
"""
from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

PREFIX = "sha256:"
_HEX = re.compile(r"[0-9a-f]{64}")


def hash_key(key: str) -> str:
    """The line to store for ``key``: ``sha256:`` and the hex digest of its UTF-8 bytes."""
    if not key or key != key.strip():
        raise ValueError("an API key must not be empty nor start or end with white space")
    return PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The accepted keys, as digests. :meth:`check` answers None (allowed), 401 (no key) or 403 (wrong key)."""

    def __init__(self, digests: list[bytes]):
        if not digests:
            raise ValueError("no API keys given")
        self._digests = list(digests)

    def __len__(self) -> int:
        return len(self._digests)

    @classmethod
    def from_keys(cls, keys: list[str]) -> "ApiKeys":
        return cls([bytes.fromhex(hash_key(k)[len(PREFIX):]) for k in keys])

    @classmethod
    def from_file(cls, path: str | Path) -> "ApiKeys":
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise OSError(e.errno, f"cannot read the API key file: {e.strerror}", str(path)) from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: the API key file is not UTF-8 text") from None
        digests = []
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(PREFIX):
                value = line[len(PREFIX):].lower()
                if not _HEX.fullmatch(value):
                    raise ValueError(f"{path}:{number}: {PREFIX} must be followed by 64 hex digits (the SHA-256 of "
                                     "the key, e.g. from `printf %s KEY | rankwise serve --hash-key`)")
                digests.append(bytes.fromhex(value))
            else:
                digests.append(hashlib.sha256(line.encode("utf-8")).digest())
        if not digests:
            raise ValueError(f"{path} holds no API key (one key, or sha256:HEX, per line)")
        return cls(digests)

    def check(self, authorization: str | None) -> int | None:
        """None when the ``Authorization`` header carries an accepted key; else 401 (none) or 403 (wrong)."""
        if not authorization:
            return 401
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return 401
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        accepted = False
        for stored in self._digests:  # every digest compared: no early exit
            accepted |= hmac.compare_digest(stored, digest)
        return None if accepted else 403


__all__ = ["ApiKeys", "hash_key"]
