"""The cart token: AES-256-GCM over a compact binary encoding of the cart.

    token  = base64url(header || ciphertext+tag), no padding
    header = version (1) | key id length (1) | key id | nonce (12)
    body   = issued s (8) | expires s (8) | cart id (16) | currency | coupon | n lines (1)
             | n * (sku | quantity (2));  strings are length (1) + UTF-8

The associated data is the header plus the user id, so a token only opens for its own user
and nobody can swap its key id. Every failure, whatever its cause, is the same
CART_TOKEN_INVALID so a caller learns nothing about which check failed; only an authentic
token past its expiry says CART_TOKEN_EXPIRED.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import struct
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from servers.cart.domain import CART_ID_BYTES, DOMAIN, MAX_LINES, Cart, CartLine
from servers.cart.keys import Keyring
from servers.common.errors import InvalidArgument

VERSION = 1
NONCE_BYTES = 12
MAX_TOKEN_CHARS = 8_192
_TIMES = struct.Struct(">QQ")
_QUANTITY = struct.Struct(">H")
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class TokenInvalid(InvalidArgument):
    def __init__(self) -> None:
        super().__init__(
            [], reason="CART_TOKEN_INVALID", domain=DOMAIN, message="cart_token is not valid"
        )


class TokenExpired(InvalidArgument):
    def __init__(self) -> None:
        super().__init__(
            [], reason="CART_TOKEN_EXPIRED", domain=DOMAIN, message="cart_token has expired"
        )


class TokenCodec:
    """Seals carts into tokens with the newest key and opens them with any configured key."""

    def __init__(
        self, keyring: Keyring, ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._keyring = keyring
        self._ttl_s = ttl_s
        self._clock = clock

    def encode(self, cart: Cart, user_id: str) -> str:
        kid, cipher = self._keyring.newest
        issued = int(self._clock())
        header = bytes([VERSION, len(kid)]) + kid.encode() + secrets.token_bytes(NONCE_BYTES)
        body = _TIMES.pack(issued, issued + self._ttl_s) + _pack_cart(cart)
        sealed = cipher.encrypt(header[-NONCE_BYTES:], body, _associated(header, user_id))
        return base64.urlsafe_b64encode(header + sealed).rstrip(b"=").decode()

    def decode(self, token: str, user_id: str) -> Cart:
        """The cart in `token` for `user_id`; an empty token is a new cart."""
        if not token:
            return Cart.new()
        raw = _unarmor(token)
        header, sealed = _split(raw)
        cipher = self._keyring.cipher(header[2:-NONCE_BYTES].decode("ascii", "replace"))
        if cipher is None:
            raise TokenInvalid()
        try:
            body = cipher.decrypt(header[-NONCE_BYTES:], sealed, _associated(header, user_id))
        except InvalidTag:
            raise TokenInvalid() from None
        _issued, expires = _TIMES.unpack_from(body)
        if self._clock() >= expires:
            raise TokenExpired()
        return _unpack_cart(body, _TIMES.size)


def _associated(header: bytes, user_id: str) -> bytes:
    return header + b"\x00" + user_id.encode()


def _unarmor(token: str) -> bytes:
    """Strict base64url: only the canonical spelling of some bytes is accepted, so no two
    different strings carry the same token (flipping a padding bit is refused too)."""
    if len(token) > MAX_TOKEN_CHARS or not _ALPHABET.fullmatch(token):
        raise TokenInvalid()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid() from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise TokenInvalid()
    return raw


def _split(raw: bytes) -> tuple[bytes, bytes]:
    if len(raw) < 2 or raw[0] != VERSION:
        raise TokenInvalid()
    end = 2 + raw[1] + NONCE_BYTES
    if raw[1] == 0 or len(raw) < end + 16:
        raise TokenInvalid()
    return raw[:end], raw[end:]


def _text(value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(encoded)]) + encoded


def _pack_cart(cart: Cart) -> bytes:
    parts = [cart.cart_id, _text(cart.currency), _text(cart.coupon), bytes([len(cart.lines)])]
    for line in cart.lines:
        parts.append(_text(line.sku) + _QUANTITY.pack(line.quantity))
    return b"".join(parts)


class _Reader:
    """Reads the body written by `_pack_cart`; any overrun means a corrupt token."""

    def __init__(self, data: bytes, offset: int) -> None:
        self._data = data
        self._at = offset

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._data):
            raise TokenInvalid()
        chunk = self._data[self._at : self._at + count]
        self._at += count
        return chunk

    def text(self) -> str:
        try:
            return self.take(self.take(1)[0]).decode()
        except UnicodeDecodeError:
            raise TokenInvalid() from None

    def done(self) -> bool:
        return self._at == len(self._data)


def _unpack_cart(body: bytes, offset: int) -> Cart:
    reader = _Reader(body, offset)
    cart_id = reader.take(CART_ID_BYTES)
    currency, coupon = reader.text(), reader.text()
    count = reader.take(1)[0]
    if count > MAX_LINES:
        raise TokenInvalid()
    lines = []
    for _ in range(count):
        sku = reader.text()
        (quantity,) = _QUANTITY.unpack(reader.take(_QUANTITY.size))
        lines.append(CartLine(sku, quantity))
    if not reader.done():
        raise TokenInvalid()
    return Cart(cart_id, tuple(lines), coupon, currency)
