"""The async API behind the sync interface, so that the sync API's behaviour tests run
unchanged against it (``PLIERSDB_TEST_API=async``, tests/conftest.py).

``connect(dsn, **options)`` opens ``pliersdb.connect_async(dsn, **options)`` on an event
loop of its own, in a background thread, and returns a proxy of it. Every object the
async API hands out is proxied the same way: a coroutine is run to its result on that
loop, ``with`` enters an ``async with``, ``for`` walks an ``async for``, and what comes
back is proxied in turn when it is a live async object (a session, a unit, an API group,
a connection, a cursor). Plain results (dataclasses, rows, ids) pass as they are. Only
the calling thread waits: the database work runs on the loop, as in an application.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import psycopg

import pliersdb
from pliersdb._api import Api
from pliersdb.db import SessionBase

T = TypeVar("T")


class Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="asyncbridge")
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapped(), self._loop)
        return future.result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _live(value: Any) -> bool:
    """Whether a value is an async object to proxy rather than a plain result."""
    return (isinstance(value, (Api, SessionBase, psycopg.AsyncConnection, psycopg.AsyncCursor))
            or hasattr(value, "__aenter__") or hasattr(value, "__anext__"))


def _unwrapped(value: Any) -> Any:
    """An argument as the async API takes it: a proxy handed back is its async object."""
    return value._target if isinstance(value, Bridged) else value


class Bridged:
    """A proxy of an async object, used as its sync counterpart."""

    def __init__(self, loop: Loop, target: Any) -> None:
        self._loop = loop
        self._target = target

    def _wrap(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run(value)
        if _live(value):
            return Bridged(self._loop, value)
        if callable(value) and not isinstance(value, type):
            return self._method(value)
        return value

    def _method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(method(*map(_unwrapped, args),
                                     **{k: _unwrapped(v) for k, v in kwargs.items()}))

        return call

    def __getattr__(self, name: str) -> Any:
        return self._wrap(getattr(self._target, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrap(self._target(*args, **kwargs))

    def __enter__(self) -> Any:
        return self._wrap(self._target.__aenter__())

    def __exit__(self, *exc: Any) -> Any:
        return self._loop.run(self._target.__aexit__(*exc))

    def __iter__(self) -> Iterator[Any]:
        iterator = self._target.__aiter__()
        while True:
            try:
                item = self._loop.run(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield self._wrap(item)


class BridgedDatabase(Bridged):
    """``connect``'s result: the proxy of an open AsyncDatabase that, closed, stops its
    loop too."""

    def close(self) -> None:
        # Database.close may be called twice (the README's snippet, then its fixture)
        if self.__dict__.get("_closed"):
            return
        self._loop.run(self._target.close())
        self._loop.stop()
        self.__dict__["_closed"] = True

    def __enter__(self) -> BridgedDatabase:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(dsn: str | None = None, **options: Any) -> Any:
    """``pliersdb.connect``'s stand-in: ``pliersdb.connect_async`` behind the bridge."""
    loop = Loop()
    return BridgedDatabase(loop, loop.run(pliersdb.connect_async(dsn, **options)))
