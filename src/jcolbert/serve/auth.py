"""API keys: where they come from, how a request's key is checked, and what it may do.

A key is `KEY` (reads and writes) or `KEY:read` (reads only). Keys come from a file (one a line; blank lines
and lines starting with # are ignored) and/or the JCOLBERT_API_KEYS environment variable (comma-separated).
A request presents one as `Authorization: Bearer KEY`. Checking compares the SHA-256 digest of the presented
key with every configured key's digest using `hmac.compare_digest`, always over all keys, so the time taken
tells nothing about how much of a key was right, nor which one matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from jcolbert.errors import InputError, ServiceError

READ, WRITE = "read", "write"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")
MIN_KEY_CHARS = 16
ENV_VAR = "JCOLBERT_API_KEYS"


@dataclass(frozen=True)
class ApiKeys:
    """Configured keys as (sha256 digest, role) pairs; empty means no keys (every request is allowed)."""

    entries: tuple[tuple[bytes, str], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.entries)

    @classmethod
    def parse(cls, specs: list[str], source: str) -> ApiKeys:
        entries = []
        for n, raw in enumerate(specs, 1):
            spec = raw.strip()
            if not spec or spec.startswith("#"):
                continue
            key, _, role = spec.partition(":")
            role = role or WRITE
            where = f"{source}, entry {n}"
            if role not in (READ, WRITE):
                raise InputError(f"{where}: role must be 'read' or 'write' (KEY or KEY:read), got {role!r}")
            if len(key) < MIN_KEY_CHARS or not set(key) <= _KEY_CHARS:
                raise InputError(f"{where}: a key must be at least {MIN_KEY_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / =")
            entries.append((_digest(key), role))
        return cls(tuple(entries))

    @classmethod
    def load(cls, key_file: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> ApiKeys:
        """Keys from key_file and from JCOLBERT_API_KEYS in env (default os.environ), together."""
        env = os.environ if env is None else env
        keys: list[tuple[bytes, str]] = []
        if key_file is not None:
            path = Path(key_file)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"API key file {path}: cannot be read ({exc})") from None
            keys += cls.parse(lines, f"API key file {path}").entries
            if not keys:
                raise InputError(f"API key file {path} holds no keys")
        if env.get(ENV_VAR):
            keys += cls.parse(env[ENV_VAR].split(","), ENV_VAR).entries
        return cls(tuple(keys))

    def role_of(self, presented: str | None) -> str | None:
        """The role of the presented key, or None when it matches no configured key (constant time)."""
        if presented is None:
            return None
        digest = _digest(presented)
        role = None
        for known, known_role in self.entries:  # no early exit: every key is compared every time
            if hmac.compare_digest(digest, known) and role is None:
                role = known_role
        return role

    def check(self, authorization: str | None, need: str, *, public_read: bool = False) -> None:
        """Raise ServiceError 401 (no or unknown key) or 403 (a read-only key on a write) unless allowed."""
        if not self.entries or (need == READ and public_read):
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(401, "unauthorized", "this server needs an API key: send 'Authorization: Bearer KEY'")
        role = self.role_of(token.strip())
        if role is None:
            raise ServiceError(401, "unauthorized", "the API key is not valid for this server")
        if need == WRITE and role != WRITE:
            raise ServiceError(403, "forbidden", "this API key may only read; writing needs a read-write key")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


__all__ = ["ENV_VAR", "READ", "WRITE", "ApiKeys"]
