"""asyncio helpers the components share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], *, ignore: tuple[type[BaseException], ...] = ()
) -> None:
    """Cancel every task of ``tasks``, then wait for each to end, in order.

    A task's cancellation, and an exception of a type in ``ignore``, ends the wait for that
    task quietly; any other exception a task ended with is raised.
    """
    tasks = list(tasks)  # the caller's collection may shrink as tasks end
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, *ignore):
            await task
