"""A bounded end for each test's event loop.

pytest-asyncio closes a test's loop with asyncio's `_cancel_all_tasks`, which cancels what is
left and then waits for it without a limit. A task that does not end when cancelled (seen twice
in full-suite runs, once in a teardown after all fixtures had stopped; not reproduced alone) then
hangs the whole run until CI's limit. Here the wait is bounded, and whatever is still running is
printed with its stack so the culprit can be found, instead of an hour of silence.
"""

from __future__ import annotations

import asyncio
import asyncio.runners
import sys
from typing import Any

SHUTDOWN_WAIT_S = 10.0


def _bounded_cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    to_cancel = asyncio.all_tasks(loop)
    if not to_cancel:
        return
    for task in to_cancel:
        task.cancel()
    done, stuck = loop.run_until_complete(asyncio.wait(to_cancel, timeout=SHUTDOWN_WAIT_S))
    for task in stuck:
        print(f"\n[loopguard] task still running {SHUTDOWN_WAIT_S:.0f} s after cancel: {task!r}",
              file=sys.stderr)  # fmt: skip
        task.print_stack(file=sys.stderr)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during event loop shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )


def install() -> None:
    runners: Any = asyncio.runners
    runners._cancel_all_tasks = _bounded_cancel_all_tasks
