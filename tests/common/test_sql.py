"""The SQL seam against real MariaDB (CI) and SQLite: upserts, transactions, migrations."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from servers.common import sql
from tests.services import mysql_dsn, require

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=["sqlite", "mysql"])
async def database(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[sql.Database]:
    if request.param == "mysql":
        dsn = mysql_dsn()
        require(dsn is not None, "MariaDB/MySQL is not reachable (set MYSQL_DSN)")
        assert dsn is not None
    else:
        dsn = f"sqlite:///{tmp_path}/test.db"
    db = await sql.connect(dsn)
    yield db
    await db.close()


async def test_upsert_is_idempotent_and_transactions_roll_back(database: sql.Database) -> None:
    table = f"t_{uuid.uuid4().hex[:10]}"
    await database.execute(
        f"CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(20) NOT NULL)"
    )
    try:
        upsert = sql.upsert_sql(database.dialect, table, ["id", "v"], ["id"], ["v"])
        async with database.transaction() as tx:
            await tx.executemany(upsert, [(1, "a"), (2, "b")])
        async with database.transaction() as tx:
            await tx.executemany(upsert, [(1, "a2"), (2, "b")])
        with pytest.raises(RuntimeError):
            async with database.transaction() as tx:
                await tx.execute(upsert, (3, "c"))
                raise RuntimeError("boom")
        rows = await database.fetch_all(f"SELECT id, v FROM {table} ORDER BY id")
        assert rows == [(1, "a2"), (2, "b")]
    finally:
        await database.execute(f"DROP TABLE {table}")


async def test_migrations_apply_once_per_dialect(
    database: sql.Database, tmp_path: pathlib.Path
) -> None:
    table = f"m_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / f"001_{table}.sql").write_text(
        f"-- a table\nCREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY);\n"
        f"INSERT INTO {table} (id) VALUES (1);\n"
    )
    (folder / f"002_{table}.{database.dialect}.sql").write_text(
        f"INSERT INTO {table} (id) VALUES (2);"
    )
    other = "sqlite" if database.dialect == "mysql" else "mysql"
    (folder / f"003_{table}.{other}.sql").write_text("THIS IS NOT SQL;")
    try:
        first = await sql.migrate(database, folder)
        second = await sql.migrate(database, folder)
        assert first == [f"001_{table}.sql", f"002_{table}.{database.dialect}.sql"]
        assert second == []
        assert await database.fetch_all(f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,)]
    finally:
        await database.execute(f"DROP TABLE {table}")
        await database.execute("DELETE FROM schema_migrations WHERE name LIKE %s", (f"%{table}%",))


async def test_concurrent_migrators_add_a_column_once(
    database: sql.Database, tmp_path: pathlib.Path
) -> None:
    """Two processes starting together both see 002 unapplied; the loser's ADD COLUMN must not
    fail start-up, and a rerun after the record was lost skips the existing column."""
    table = f"c_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / f"001_{table}.sql").write_text(
        f"CREATE TABLE IF NOT EXISTS {table} (id BIGINT PRIMARY KEY);"
    )
    (folder / f"002_{table}.sql").write_text(
        f"ALTER TABLE {table} ADD COLUMN extra BIGINT NOT NULL DEFAULT 7;"
    )
    dsn = f"sqlite:///{tmp_path}/test.db" if database.dialect == "sqlite" else mysql_dsn()
    assert dsn is not None
    other = await sql.connect(dsn)
    try:
        results = await asyncio.gather(sql.migrate(database, folder), sql.migrate(other, folder))
        assert sorted(name for names in results for name in names).count(f"002_{table}.sql") >= 1
        await database.execute("DELETE FROM schema_migrations WHERE name LIKE %s", (f"%{table}%",))
        assert await sql.migrate(database, folder) == [f"001_{table}.sql", f"002_{table}.sql"]
        await database.execute(f"INSERT INTO {table} (id) VALUES (1)")
        assert await database.fetch_all(f"SELECT id, extra FROM {table}") == [(1, 7)]
    finally:
        await other.close()
        await database.execute(f"DROP TABLE {table}")
        await database.execute("DELETE FROM schema_migrations WHERE name LIKE %s", (f"%{table}%",))


async def test_unknown_dsn_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported database DSN"):
        await sql.connect("postgres://x")
