"""The Redis claim script on real Redis: new, busy, stale takeover, done replay, release, TTL."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from servers.payment.claims import ClaimStatus, RedisClaims, item_of
from servers.payment.domain import BloomShape

pytestmark = pytest.mark.asyncio
KEY = ("acme", "pay-1")
LOCK_MS, TTL_MS = 1_000, 60_000


@pytest.fixture
def claims(redis_client: aioredis.Redis, key_prefix: str) -> RedisClaims:
    return RedisClaims(redis_client, key_prefix, BloomShape.for_keys(1_000, 0.0001), shards=4)


async def test_first_claim_is_new_then_busy_then_taken_over_when_the_lock_is_stale(
    claims: RedisClaims,
) -> None:
    first = await claims.claim(KEY, "h", "a", 10_000, LOCK_MS, TTL_MS)
    busy = await claims.claim(KEY, "h", "b", 10_400, LOCK_MS, TTL_MS)
    stale = await claims.claim(KEY, "h", "b", 11_000, LOCK_MS, TTL_MS)
    again = await claims.claim(KEY, "h", "c", 11_100, LOCK_MS, TTL_MS)
    assert first.status is ClaimStatus.NEW and first.held
    assert (busy.status, busy.payload_hash, busy.retry_ms) == (ClaimStatus.BUSY, "h", 600)
    assert stale.status is ClaimStatus.TAKEOVER and stale.held
    assert again.status is ClaimStatus.BUSY  # the takeover renewed the lock


async def test_a_finished_claim_answers_with_the_stored_bytes(claims: RedisClaims) -> None:
    await claims.claim(KEY, "h", "a", 10_000, LOCK_MS, TTL_MS)
    await claims.finish(KEY, "h", b"\x00answer\xff", TTL_MS)
    done = await claims.claim(KEY, "h", "b", 99_000, LOCK_MS, TTL_MS)
    other = await claims.claim(KEY, "other-hash", "b", 99_000, LOCK_MS, TTL_MS)
    assert (done.status, done.response, done.payload_hash) == (
        ClaimStatus.DONE,
        b"\x00answer\xff",
        "h",
    )
    assert other.payload_hash == "h"  # the caller sees the mismatch


async def test_busy_with_another_payload_reports_the_holders_hash(claims: RedisClaims) -> None:
    await claims.claim(KEY, "h", "a", 10_000, LOCK_MS, TTL_MS)
    busy = await claims.claim(KEY, "other", "b", 10_001, LOCK_MS, TTL_MS)
    assert (busy.status, busy.payload_hash) == (ClaimStatus.BUSY, "h")


async def test_release_by_the_holder_only_and_an_expired_claim_is_maybe_seen(
    claims: RedisClaims, redis_client: aioredis.Redis
) -> None:
    await claims.claim(KEY, "h", "a", 10_000, LOCK_MS, TTL_MS)
    await claims.release(KEY, "not-the-holder")
    assert (await claims.claim(KEY, "h", "b", 10_001, LOCK_MS, TTL_MS)).status is ClaimStatus.BUSY
    await claims.release(KEY, "a")
    # Seen by the Bloom filter, no claim any more: SQL must decide.
    assert (await claims.claim(KEY, "h", "b", 10_002, LOCK_MS, 50)).status is ClaimStatus.CLAIMED
    assert 0 < await redis_client.pttl(claims.claim_key(KEY)) <= 50
    await asyncio.sleep(0.1)
    assert await redis_client.exists(claims.claim_key(KEY)) == 0
    assert (await claims.claim(KEY, "h", "c", 10_003, LOCK_MS, TTL_MS)).status is (
        ClaimStatus.CLAIMED
    )


async def test_keys_of_one_callback_share_a_cluster_slot_and_batch_loads_match_claims(
    claims: RedisClaims,
) -> None:
    tag = claims.claim_key(KEY).split("}")[0] + "}"
    shard = int(tag.rsplit("{", 1)[1].rstrip("}"))
    assert claims.bloom_key(shard).startswith(tag)
    preloaded = ("acme", "preloaded")
    preloaded_shard = int(claims.claim_key(preloaded).split("{")[1].split("}")[0])
    await claims.bloom_batch("add", [item_of(preloaded)], preloaded_shard)
    status = (await claims.claim(preloaded, "h", "a", 1, LOCK_MS, TTL_MS)).status
    assert status is ClaimStatus.CLAIMED


async def test_the_bloom_filter_rotates_per_window_and_remembers_one_window_back(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    window = 10_000
    claims = RedisClaims(redis_client, key_prefix, BloomShape.for_keys(1_000, 0.0001), 1, window)
    first = await claims.claim(KEY, "h", "a", 5_000, LOCK_MS, TTL_MS)
    await claims.release(KEY, "a")
    next_window = await claims.claim(KEY, "h", "a", 15_000, LOCK_MS, TTL_MS)
    await claims.release(KEY, "a")
    # Seen in the window before: still "maybe seen" (the new window learnt it too).
    two_later = await claims.claim(KEY, "h", "a", 25_000, LOCK_MS, TTL_MS)
    await claims.release(KEY, "a")
    forgotten = await claims.claim(KEY, "h", "a", 45_000, LOCK_MS, TTL_MS)
    assert [c.status for c in (first, next_window, two_later, forgotten)] == [
        ClaimStatus.NEW,
        ClaimStatus.CLAIMED,
        ClaimStatus.CLAIMED,
        ClaimStatus.NEW,  # SQL still deduplicates; Redis only forgot
    ]
    ttl = await redis_client.pttl(claims.bloom_key(0, 45_000))
    assert 0 < ttl <= 2 * window
