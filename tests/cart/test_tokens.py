"""The cart token: authenticated, bound to its user, rotatable, expiring, bounded in size."""

from __future__ import annotations

import base64
import os
import pathlib
import stat

import pytest

from servers.cart.domain import MAX_LINES, Cart
from servers.cart.keys import Keyring, generate, load_keyring, main, parse_keys, rotate
from servers.cart.tokens import MAX_TOKEN_CHARS, TokenCodec, TokenExpired, TokenInvalid
from servers.common.errors import InvalidArgument
from servers.common.settings import SettingsError
from tests.cart.conftest import key_text, new_key

WEEK = 7 * 86_400


class Clock:
    """A settable clock: expiry is tested by moving time, not by sleeping a week."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sample_cart() -> Cart:
    cart = Cart(cart_id=bytes(range(16)), currency="USD").add("SKU-MUG", 3).add("SKU-PHONE-X1", 1)
    return cart.with_coupon("WELCOME10")


def codec(*pairs: tuple[str, bytes], clock: Clock | None = None, retired: str = "") -> TokenCodec:
    keyring = Keyring.from_pairs(list(pairs), frozenset(filter(None, retired.split(","))))
    return TokenCodec(keyring, WEEK, clock or Clock())


def test_round_trip_keeps_every_field() -> None:
    tokens = codec(("k1", new_key()))
    cart = sample_cart()
    assert tokens.decode(tokens.encode(cart, "alice"), "alice") == cart


def test_empty_token_is_a_new_empty_cart() -> None:
    cart = codec(("k1", new_key())).decode("", "alice")
    assert (cart.lines, cart.coupon, cart.currency) == ((), "", "")
    assert len(cart.cart_id) == 16


def test_two_tokens_of_the_same_cart_differ() -> None:
    """A fresh nonce per token: equal carts do not give equal ciphertexts."""
    tokens = codec(("k1", new_key()))
    cart = sample_cart()
    assert tokens.encode(cart, "alice") != tokens.encode(cart, "alice")


def _refused(tokens: TokenCodec, token: str, user: str = "alice") -> None:
    with pytest.raises(TokenInvalid) as caught:
        tokens.decode(token, user)
    assert caught.value.reason == "CART_TOKEN_INVALID"
    assert caught.value.message == "cart_token is not valid"  # the same words for every cause


def test_every_flipped_byte_of_the_raw_token_is_refused() -> None:
    tokens = codec(("k1", new_key()))
    raw = bytearray(base64.urlsafe_b64decode(tokens.encode(sample_cart(), "alice") + "=="))
    for index in range(len(raw)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(raw)
            flipped[index] ^= mask
            _refused(tokens, base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode())


def test_every_changed_character_of_the_token_text_is_refused() -> None:
    """Including changes that only touch base64 padding bits, which a lax decoder ignores."""
    tokens = codec(("k1", new_key()))
    token = tokens.encode(sample_cart(), "alice")
    alphabet = "AQgw_-9+/=."
    for index in range(len(token)):
        for replacement in alphabet:
            if replacement != token[index]:
                _refused(tokens, token[:index] + replacement + token[index + 1 :])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[: len(t) // 2],
        lambda t: t[:10],
        lambda t: t + "A",
        lambda t: t + "AAAA",
        lambda t: t + "=",
        lambda t: " " + t,
        lambda t: "x" * (MAX_TOKEN_CHARS + 1),
        lambda t: "é" + t,
        lambda t: "A",
    ],
    ids=[
        "drop-1",
        "half",
        "prefix",
        "extra-char",
        "extra-block",
        "padding",
        "space",
        "huge",
        "non-ascii",
        "one-char",
    ],
)
def test_truncated_extended_or_garbage_tokens_are_refused(mangle: object) -> None:
    tokens = codec(("k1", new_key()))
    token = tokens.encode(sample_cart(), "alice")
    _refused(tokens, mangle(token))  # type: ignore[operator]


def test_a_token_for_one_user_is_refused_for_another() -> None:
    tokens = codec(("k1", new_key()))
    token = tokens.encode(sample_cart(), "alice")
    for other in ("bob", "alice ", "Alice", "alic", "alice\x00"):
        _refused(tokens, token, other)


def test_a_token_sealed_with_an_unknown_key_is_refused() -> None:
    ours = codec(("k1", new_key()))
    theirs = codec(("k1", new_key()))  # same id, different key material
    _refused(ours, theirs.encode(sample_cart(), "alice"))
    other_id = codec(("k9", new_key()))
    _refused(ours, other_id.encode(sample_cart(), "alice"))


def test_rotation_reads_old_tokens_and_retirement_refuses_them() -> None:
    old, new = new_key(), new_key()
    before = codec(("k1", old))
    old_token = before.encode(sample_cart(), "alice")

    rotated = codec(("k2", new), ("k1", old))
    assert rotated.decode(old_token, "alice") == sample_cart()
    new_token = rotated.encode(sample_cart(), "alice")
    _refused(before, new_token)  # sealed with k2, the newest key

    retired = codec(("k2", new), ("k1", old), retired="k1")
    _refused(retired, old_token)
    assert retired.decode(new_token, "alice") == sample_cart()

    removed = codec(("k2", new))
    _refused(removed, old_token)


def test_expiry_is_its_own_reason_and_only_for_authentic_tokens() -> None:
    clock = Clock()
    tokens = codec(("k1", new_key()), clock=clock)
    token = tokens.encode(sample_cart(), "alice")
    clock.now += WEEK - 1
    assert tokens.decode(token, "alice") == sample_cart()
    clock.now += 1
    with pytest.raises(TokenExpired) as caught:
        tokens.decode(token, "alice")
    assert caught.value.reason == "CART_TOKEN_EXPIRED"
    _refused(tokens, token, "bob")  # an expired token of someone else says nothing more


def test_a_full_cart_token_stays_a_few_kilobytes() -> None:
    cart = Cart.new("JPY").with_coupon("WELCOME10")
    for index in range(MAX_LINES):
        cart = cart.add(f"SKU-PRODUCT-NAME-{index:04d}", 10_000)
    tokens = codec(("k1", new_key()))
    token = tokens.encode(cart, "alice")
    assert len(token) < 4_096
    assert tokens.decode(token, "alice") == cart


def test_key_settings_are_parsed_newest_first_and_checked() -> None:
    first, second = new_key(), new_key()
    pairs = parse_keys(f"{key_text('k2', second)}, {key_text('k1', first)}", "CART_KEYS")
    assert pairs == [("k2", second), ("k1", first)]
    for bad in ("k1", "k1=short", "k 1=" + base64.b64encode(first).decode(), "k1=@@@@"):
        with pytest.raises(SettingsError):
            parse_keys(bad, "CART_KEYS")
    with pytest.raises(SettingsError, match="twice"):
        Keyring.from_pairs([("k1", first), ("k1", second)])
    with pytest.raises(SettingsError, match="no usable"):
        load_keyring(key_text("k1", first), None, "k1")


def test_key_file_tool_generates_private_files_and_rotates(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "keys" / "cart.keys"
    assert main(["generate", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = load_keyring("", path, "")
    assert first.ids == ("k1",)
    token = TokenCodec(first, WEEK).encode(sample_cart(), "alice")

    assert not generate(path)  # an existing file is kept: outstanding tokens stay readable
    assert rotate(path) == "k2"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    rotated = load_keyring("", path, "")
    assert rotated.ids == ("k2", "k1")
    assert TokenCodec(rotated, WEEK).decode(token, "alice") == sample_cart()
    assert generate(path, force=True)
    assert load_keyring("", path, "").ids == ("k1",)


def test_token_errors_are_invalid_argument() -> None:
    assert issubclass(TokenInvalid, InvalidArgument)
    assert issubclass(TokenExpired, InvalidArgument)
