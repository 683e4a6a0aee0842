"""The test harness's bounded loop shutdown: a task that ignores cancel cannot hang the run."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests import loopguard


def test_a_task_that_ignores_cancel_is_reported_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(loopguard, "SHUTDOWN_WAIT_S", 0.2)
    loop = asyncio.new_event_loop()
    release = loop.create_future()

    async def stubborn() -> None:
        while not release.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(
                    release
                )  # swallows every cancel, like the task that hung a run

    task = loop.create_task(stubborn(), name="stubborn")
    loop.run_until_complete(asyncio.sleep(0))
    started = time.monotonic()
    loopguard._bounded_cancel_all_tasks(loop)
    assert time.monotonic() - started < 2.0
    assert "stubborn" in capsys.readouterr().err
    release.set_result(None)  # let it go so the loop can close cleanly
    loop.run_until_complete(task)
    loop.close()
