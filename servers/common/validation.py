"""Collecting field violations, so one INVALID_ARGUMENT names every bad field of a request."""

from __future__ import annotations

import re

from servers.common.errors import FieldViolation, InvalidArgument

MAX_ID_LENGTH = 128
_SKU = re.compile(r"[A-Za-z0-9._-]+")


class Violations:
    """Accumulates FieldViolations; `raise_if_any()` ends validation."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def identifier(self, field: str, value: str, *, max_length: int = MAX_ID_LENGTH) -> bool:
        """An id: 1 to `max_length` characters, no control characters."""
        if not value:
            self.add(field, "must not be empty")
            return False
        if len(value) > max_length:
            self.add(field, f"must be at most {max_length} characters (got {len(value)})")
            return False
        if not value.isprintable():
            self.add(field, "must not contain control characters")
            return False
        return True

    def sku(self, field: str, value: str) -> bool:
        if not self.identifier(field, value):
            return False
        if not _SKU.fullmatch(value):
            self.add(field, "may contain only letters, digits, '.', '_' and '-'")
            return False
        return True

    def in_range(self, field: str, value: int, low: int, high: int) -> bool:
        if not low <= value <= high:
            self.add(field, f"must be between {low:,} and {high:,} (got {value:,})")
            return False
        return True

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(list(self.items))
