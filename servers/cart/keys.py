"""Cart token keys: the keyring (newest first, some retired) and the key-file tool.

A key file holds one `kid=<base64 of 32 bytes>` per line, newest first; `#` starts a comment.
Keys never live in the repository: `python -m servers.cart.keys generate PATH` writes a fresh
file readable only by its owner, `rotate PATH` puts a new key in front of the existing ones.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import pathlib
import re
import secrets
import sys
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servers.common.settings import SettingsError

KEY_BYTES = 32
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}")


@dataclass(frozen=True)
class Keyring:
    """AES-256-GCM keys by id, newest first. Retired ids are kept out entirely: their tokens
    are refused exactly like tokens of a key that was never configured."""

    ids: tuple[str, ...]
    _ciphers: dict[str, AESGCM]

    @classmethod
    def from_pairs(
        cls, pairs: list[tuple[str, bytes]], retired: frozenset[str] = frozenset()
    ) -> Keyring:
        ciphers: dict[str, AESGCM] = {}
        for kid, key in pairs:
            if kid in ciphers:
                raise SettingsError(f"cart key id {kid!r} is configured twice")
            if kid not in retired:
                ciphers[kid] = AESGCM(key)
        if not ciphers:
            raise SettingsError("no usable cart key: set CART_KEYS or CART_KEYS_FILE")
        return cls(tuple(ciphers), ciphers)

    @property
    def newest(self) -> tuple[str, AESGCM]:
        return self.ids[0], self._ciphers[self.ids[0]]

    def cipher(self, kid: str) -> AESGCM | None:
        return self._ciphers.get(kid)


def parse_keys(text: str, source: str) -> list[tuple[str, bytes]]:
    """Parse `kid=base64` entries separated by commas or newlines; `source` names the setting."""
    pairs: list[tuple[str, bytes]] = []
    entries = [part for line in text.splitlines() for part in line.split("#", 1)[0].split(",")]
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        kid, sep, encoded = entry.partition("=")
        kid = kid.strip()
        if not sep or not _KID.fullmatch(kid):
            raise SettingsError(
                f"{source}: expected kid=<base64 key>, kid of [A-Za-z0-9_-]{{1,16}}"
            )
        pairs.append((kid, _decode_key(encoded.strip(), kid, source)))
    return pairs


def _decode_key(encoded: str, kid: str, source: str) -> bytes:
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{source}: key {kid!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise SettingsError(f"{source}: key {kid!r} must be {KEY_BYTES} bytes (got {len(key)})")
    return key


def load_keyring(inline: str, file: pathlib.Path | None, retired: str) -> Keyring:
    """Inline keys first (they are the newest by convention), then the file's."""
    pairs = parse_keys(inline, "CART_KEYS")
    if file is not None:
        try:
            pairs += parse_keys(file.read_text(), f"CART_KEYS_FILE={file}")
        except OSError as exc:
            raise SettingsError(f"CART_KEYS_FILE={file}: {exc.strerror}") from None
    retired_ids = frozenset(kid.strip() for kid in retired.split(",") if kid.strip())
    return Keyring.from_pairs(pairs, retired_ids)


def new_entry(existing: list[str]) -> str:
    """A fresh `kid=key` line whose id is not among `existing`."""
    number = len(existing) + 1
    while f"k{number}" in existing:
        number += 1
    key = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    return f"k{number}={key}"


def _write_private(path: pathlib.Path, text: str) -> None:
    """Write via a 0600 temporary file and rename, so the key is never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def generate(path: pathlib.Path, *, force: bool = False) -> bool:
    """Write a fresh key file; keep an existing one unless `force`. True when written."""
    if path.exists() and not force:
        return False
    _write_private(path, "# shopmesh cart token keys, newest first\n" + new_entry([]) + "\n")
    return True


def rotate(path: pathlib.Path) -> str:
    """Put a new key in front; old keys stay so outstanding tokens remain readable."""
    lines = path.read_text().splitlines() if path.exists() else []
    ids = [kid for kid, _ in parse_keys("\n".join(lines), str(path))]
    entry = new_entry(ids)
    _write_private(path, "\n".join([entry, *lines]) + "\n")
    return entry.split("=", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.cart.keys")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("generate", help="write a fresh key file (0600)")
    make.add_argument("path", type=pathlib.Path)
    make.add_argument("--force", action="store_true", help="replace an existing file")
    turn = commands.add_parser("rotate", help="add a new newest key to a key file")
    turn.add_argument("path", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.command == "generate":
        written = generate(args.path, force=args.force)
        print(f"{'wrote' if written else 'kept existing'} cart key file {args.path}")
    else:
        print(f"added key {rotate(args.path)} to {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
