"""The domain exception tree every shopmesh service raises; one interceptor turns it into statuses.

    ShopError
    ├── InvalidArgument        bad input              -> INVALID_ARGUMENT + BadRequest/ErrorInfo
    ├── NotFound               missing resource       -> NOT_FOUND + ResourceInfo
    ├── PreconditionFailed     rule refuses the call  -> FAILED_PRECONDITION + ErrorInfo
    ├── Unauthenticated        bad credentials        -> UNAUTHENTICATED + ErrorInfo
    ├── Overloaded             shed load              -> RESOURCE_EXHAUSTED + RetryInfo
    ├── Conflict               same work in flight    -> ABORTED + RetryInfo
    └── DependencyUnavailable  Redis/SQL/peer down    -> UNAVAILABLE + ErrorInfo

Nothing here imports gRPC: domain modules raise these, `servers.common.status` encodes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: `field` is its path in the request (e.g. `lines[2].quantity`)."""

    field: str
    description: str


class ShopError(Exception):
    """Base of every error a shopmesh caller can cause or observe."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


MAX_VIOLATIONS = 20
"""At most this many field violations travel back: the details ride in gRPC trailers, which
clients cap at 8 KB, and twenty is plenty to fix a request."""


class InvalidArgument(ShopError):
    """The request is malformed; `violations` lists each bad field (the first MAX_VIOLATIONS).

    When `reason` is set the error is encoded as an ErrorInfo instead (for cases such as a
    tampered token, where naming the field is not enough and details must not leak).
    """

    def __init__(
        self,
        violations: list[FieldViolation],
        *,
        reason: str = "",
        domain: str = "",
        message: str = "",
    ) -> None:
        kept = violations[:MAX_VIOLATIONS]
        text = message or "; ".join(f"{v.field}: {v.description}" for v in kept[:3])
        if not message and len(violations) > 3:
            text += f"; and {len(violations) - 3} more"
        super().__init__(text or "invalid argument")
        self.violations = kept
        self.reason = reason
        self.domain = domain

    @classmethod
    def single(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(ShopError):
    """A named resource does not exist."""

    def __init__(self, resource_type: str, resource_name: str, description: str = "") -> None:
        super().__init__(description or f"{resource_type} {resource_name!r} not found")
        self.resource_type = resource_type
        self.resource_name = resource_name


class PreconditionFailed(ShopError):
    """A business rule refuses the call in the current state (sold out, illegal transition...)."""

    def __init__(
        self,
        reason: str,
        domain: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})


class Unauthenticated(ShopError):
    """The caller could not be authenticated (for example a bad signature)."""

    def __init__(self, reason: str, domain: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.domain = domain


class Overloaded(ShopError):
    """Load was shed; the caller may retry after `retry_after_s` seconds."""

    def __init__(
        self, message: str, retry_after_s: float, reason: str = "", domain: str = ""
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.domain = domain


class Conflict(ShopError):
    """Conflicting work is in flight (same key being processed); retry after `retry_after_s`."""

    def __init__(
        self, message: str, retry_after_s: float, reason: str = "", domain: str = ""
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.domain = domain


class DependencyUnavailable(ShopError):
    """A dependency (Redis, SQL, a peer service) cannot be reached."""

    def __init__(self, dependency: str, message: str = "") -> None:
        super().__init__(message or f"{dependency} is unavailable")
        self.dependency = dependency
