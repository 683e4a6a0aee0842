"""The SQL seam: MySQL/MariaDB through aiomysql in production, SQLite through aiosqlite as the
embedded default. Stores write `%s` placeholders and portable SQL; the few dialect differences
(upserts) go through `upsert_sql`. Migrations are plain SQL files applied once, in name order.

DSNs: `mysql://user:password@host:3306/database` or `sqlite:///path/to/file.db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

Row = tuple[Any, ...]
Params = Sequence[Any]


class Transaction(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Params]) -> int: ...
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...


class Database(Protocol):
    dialect: str

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]: ...
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def upsert_sql(
    dialect: str, table: str, columns: Sequence[str], keys: Sequence[str], update: Sequence[str]
) -> str:
    """`INSERT ... ON DUPLICATE KEY UPDATE c = VALUES(c)` (MariaDB) or `ON CONFLICT` (SQLite)."""
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    if dialect == "mysql":
        sets = ", ".join(f"{c} = VALUES({c})" for c in update)
        return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON DUPLICATE KEY UPDATE {sets}"
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    action = f"DO UPDATE SET {sets}" if update else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(keys)}) {action}"
    )


class _MySQLTransaction:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    async def execute(self, sql: str, params: Params = ()) -> int:
        return int(await self._cursor.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Sequence[Params]) -> int:
        if not rows:
            return 0
        return int(await self._cursor.executemany(sql, [tuple(r) for r in rows]))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        await self._cursor.execute(sql, tuple(params))
        return list(await self._cursor.fetchall())


class MySQLDatabase:
    dialect = "mysql"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int = 10) -> MySQLDatabase:
        import aiomysql

        url = urlparse(dsn)
        pool = await aiomysql.create_pool(
            host=url.hostname or "127.0.0.1",
            port=url.port or 3306,
            user=unquote(url.username or "root"),
            password=unquote(url.password or ""),
            db=url.path.lstrip("/") or "test",
            minsize=1,
            maxsize=pool_size,
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=3,
            # Idempotent DDL (`IF NOT EXISTS`) raises notes that the driver turns into warnings.
            init_command="SET SESSION sql_notes = 0",
        )
        return cls(pool)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cursor:
                    yield _MySQLTransaction(cursor)
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._pool.acquire() as conn, conn.cursor() as cursor:
            return await _MySQLTransaction(cursor).fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._pool.acquire() as conn, conn.cursor() as cursor:
            return await _MySQLTransaction(cursor).execute(sql, params)

    async def ping(self) -> None:
        await self.fetch_all("SELECT 1")

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()


_PLACEHOLDER = re.compile(r"%s")


def _sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub("?", sql)


class _SQLiteTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(_sqlite(sql), tuple(params))
        return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> int:
        if not rows:
            return 0
        cursor = await self._conn.executemany(_sqlite(sql), [tuple(r) for r in rows])
        return int(cursor.rowcount)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._conn.execute(_sqlite(sql), tuple(params))
        return [tuple(row) for row in await cursor.fetchall()]


class SQLiteDatabase:
    """One connection; a lock serialises transactions (SQLite has a single writer anyway)."""

    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteDatabase:
        import aiosqlite

        conn = await aiosqlite.connect(path, isolation_level=None, timeout=10)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=10000")
        return cls(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTransaction(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            return await _SQLiteTransaction(self._conn).fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lock:
            return await _SQLiteTransaction(self._conn).execute(sql, params)

    async def ping(self) -> None:
        await self.fetch_all("SELECT 1")

    async def close(self) -> None:
        await self._conn.close()


async def connect(dsn: str) -> Database:
    """Open the database a DSN names (see the module docstring)."""
    if dsn.startswith(("mysql://", "mariadb://")):
        return await MySQLDatabase.open(dsn)
    if dsn.startswith("sqlite:///"):
        path = dsn.removeprefix("sqlite:///")  # sqlite:////abs/file.db keeps its leading "/"
        if path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        return await SQLiteDatabase.open(path)
    raise ValueError(f"unsupported database DSN {dsn!r} (use mysql://... or sqlite:///...)")


_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(name VARCHAR(200) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
)


async def migrate(db: Database, directory: pathlib.Path, *, now_ms: int = 0) -> list[str]:
    """Apply each `*.sql` in `directory` not applied yet (a file `x.mysql.sql` or `x.sqlite.sql`
    applies only to that dialect); statements are split on `;` at line ends. Returns names applied.
    Safe to run from several processes at once: every statement must be idempotent
    (`CREATE TABLE IF NOT EXISTS`, ...; `ADD COLUMN` is made so by `_apply`), and the record
    insert ignores a concurrent winner."""
    await db.execute(_MIGRATIONS_TABLE)
    done = {row[0] for row in await db.fetch_all("SELECT name FROM schema_migrations")}
    applied = []
    for name, text in _migration_files(directory, db.dialect):
        if name in done:
            continue
        for statement in _statements(text):
            await _apply(db, statement)
        record = upsert_sql(
            db.dialect, "schema_migrations", ["name", "applied_at"], ["name"], ["applied_at"]
        )
        await db.execute(record, (name, now_ms))
        applied.append(name)
    return applied


_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)


async def _apply(db: Database, statement: str) -> None:
    """Run one migration statement. `ALTER TABLE t ADD COLUMN c` has no portable IF NOT EXISTS
    (SQLite lacks it): when it fails because the column is already there (a concurrent
    migrator added it, or an earlier run whose record was lost), that is not an error."""
    try:
        await db.execute(statement)
    except Exception:
        added = _ADD_COLUMN.match(statement)
        if added is None or not await _has_column(db, *added.groups()):
            raise


async def _has_column(db: Database, table: str, column: str) -> bool:
    if db.dialect == "sqlite":
        rows = await db.fetch_all(f"PRAGMA table_info({table})")  # names come from migration files
        return any(row[1].lower() == column.lower() for row in rows)
    rows = await db.fetch_all(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = %s AND column_name = %s",
        (table, column),
    )
    return bool(rows)


def _migration_files(directory: pathlib.Path, dialect: str) -> list[tuple[str, str]]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        parts = path.name.split(".")
        if len(parts) == 3 and parts[1] != dialect:
            continue
        files.append((path.name, path.read_text()))
    return files


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [
        s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE) if s.strip()
    ]


__all__ = ["Database", "Transaction", "connect", "migrate", "upsert_sql"]
