"""The event loop a stand-in server runs on: a daemon thread, so synchronous tests can start, use and stop it."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Awaitable, Callable, Coroutine, Optional, TypeVar

S = TypeVar("S", bound="LoopThreadServer")


def start_loop_thread(serve: Callable[[], Awaitable[Any]], name: str,
                      timeout: float) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """Run `serve()` on a new event loop in a daemon thread `name`, then keep that loop running for the
    stand-in's handlers; (loop, thread) once `serve()` returned. A failure in `serve()` is raised here."""
    started = threading.Event()
    failure: list[BaseException] = []
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            failure.append(error)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not started.wait(timeout) or failure:
        raise RuntimeError(f"{name} did not start: {failure}") from (failure[0] if failure else None)
    return loops[0], thread


def stop_loop_thread(loop: Optional[asyncio.AbstractEventLoop], thread: Optional[threading.Thread],
                     cleanup: Callable[[], Coroutine[Any, Any, Any]], timeout: float) -> None:
    """Run `cleanup()` on the loop (its failure ignored: the stand-in stops anyway), stop the loop, join."""
    if loop is None or thread is None:
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(cleanup(), loop).result(timeout)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)


class LoopThreadServer:
    """A stand-in server on its own event loop thread: `start()` runs `_serve()` there, `stop()` runs `_cleanup()`
    and ends the thread, and `with` does both. Subclasses name the thread and give the two coroutines."""

    thread_name = "stand-in"
    start_timeout = 10.0
    stop_timeout = 15.0
    _loop: Optional[asyncio.AbstractEventLoop] = None
    _thread: Optional[threading.Thread] = None

    async def _serve(self) -> None:
        raise NotImplementedError

    async def _cleanup(self) -> None:
        raise NotImplementedError

    def start(self: S) -> S:
        self._loop, self._thread = start_loop_thread(self._serve, self.thread_name, timeout=self.start_timeout)
        return self

    def stop(self) -> None:
        stop_loop_thread(self._loop, self._thread, self._cleanup, timeout=self.stop_timeout)
        self._loop = self._thread = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
