"""One implementation of each API method, run by a sync or an async session (sans-IO).

A wrapper method (``Forms.create``...) is written once and returns a plan: a ``Call``
(one SQL API function and how to convert its rows), or a generator that yields Calls,
receives each converted result, and returns the method's result (several calls, with
Python work between them, e.g. argon2 in ``Users.login``). The ``api`` decorator runs
the plan on the session of the API object: ``session.call`` in a sync session, ``await
session.call`` in an async one. mypy sees ``t.forms.create(...)`` as ``Form`` in the
first and ``Awaitable[Form]`` in the second, its arguments checked.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
    overload,
)

from pliersdb import errors
from pliersdb._records import from_row

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Api", "AsyncCaller", "Call", "Caller", "Plan", "Steps", "api"]

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R", bound="DataclassInstance")
Rows = list[dict[str, Any]]


class Caller(Protocol):
    """What runs a call synchronously: a ``Session``, or ``db.platform``'s transactions."""

    def call(self, function: str, /, *args: Any, **kwargs: Any) -> Rows: ...


class AsyncCaller(Protocol):
    """What runs a call asynchronously: an ``AsyncSession``, or ``AsyncDatabase.platform``'s."""

    def call(self, function: str, /, *args: Any, **kwargs: Any) -> Awaitable[Rows]: ...


S = TypeVar("S", Caller, AsyncCaller)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One call of ``pliers.<function>(args..., p_<key> => value...)`` and the conversion
    of its rows to the result."""

    function: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    convert: Callable[[Rows], T]


# A plan of several calls: a generator function annotated ``-> Steps[X]``.
Steps = Generator[Call[Any], Any, T]
Plan = Call[T] | Steps[T]


def steps(plan: Plan[T]) -> Steps[T]:
    """A plan as a generator: ``yield from steps(...)`` runs a plan inside another."""
    if isinstance(plan, Call):
        result: T = yield plan
        return result
    return (yield from plan)


def one_row(function: str, rows: Rows) -> dict[str, Any]:
    """The one row of a call: NotFound if none, ValueError if several."""
    if not rows:
        raise errors.NotFound(f"pliers.{function} returned no row", {"object": function})
    if len(rows) > 1:
        raise ValueError(f"pliers.{function} returned {len(rows)} rows, expected one")
    return rows[0]


def row_of(function: str, **arguments: Any) -> Call[dict[str, Any]]:
    """A call that returns one row (NotFound if none)."""
    return Call(function, (), arguments, lambda found: one_row(function, found))


def value(function: str, **arguments: Any) -> Call[Any]:
    """A call of a function that returns one scalar: its value."""
    return Call(function, (), arguments,
                lambda found: next(iter(one_row(function, found).values())))


def then(call: Call[T], after: Callable[[T], U]) -> Call[U]:
    """``call`` with ``after`` applied to its result."""
    convert = call.convert
    return Call(call.function, call.args, call.kwargs, lambda found: after(convert(found)))


def json_object(found: Any) -> dict[str, Any] | None:
    """A JSON object, None for anything else (SQL NULL)."""
    return found if isinstance(found, dict) else None


def json_list(found: Any) -> list[Any]:
    """A JSON array as a list, [] for SQL NULL."""
    return list(found or [])


def record(cls: type[R], function: str, **arguments: Any) -> Call[R]:
    """A call that returns one row, as an instance of dataclass ``cls``."""
    return Call(function, (), arguments, lambda found: from_row(cls, one_row(function, found)))


def records(cls: type[R], function: str, **arguments: Any) -> Call[list[R]]:
    """A call whose rows are instances of dataclass ``cls``."""
    return Call(function, (), arguments, lambda found: [from_row(cls, row) for row in found])


def _advance(plan: Steps[Any], sent: Any) -> tuple[Call[Any] | None, Any]:
    """Run a plan to its next call: (the call, None), or (None, its result) at its end."""
    try:
        return plan.send(sent), None
    except StopIteration as done:
        return None, done.value


def run(caller: Caller, plan: Plan[T]) -> T:
    """The result of a plan, its calls made by a sync caller."""
    gen, result = steps(plan), None
    while True:
        step, result = _advance(gen, result)
        if step is None:
            return cast(T, result)
        result = step.convert(caller.call(step.function, *step.args, **step.kwargs))


async def run_async(caller: AsyncCaller, plan: Plan[T]) -> T:
    """The result of a plan, its calls awaited on an async caller. The Python work of a
    plan of several steps (argon2 in ``Users``) runs in a worker thread, off the loop."""
    if isinstance(plan, Call):
        return plan.convert(await caller.call(plan.function, *plan.args, **plan.kwargs))
    result = None
    while True:
        step, result = await asyncio.to_thread(_advance, plan, result)
        if step is None:
            return cast(T, result)
        result = step.convert(await caller.call(step.function, *step.args, **step.kwargs))


class Api(Generic[S]):
    """An API group (``t.forms``...) on a sync or an async caller."""

    def __init__(self, caller: S) -> None:
        self._caller: S = caller
        # An async caller's call is a coroutine function; a sync one's a plain method.
        self._asynchronous = inspect.iscoroutinefunction(caller.call)


class api(Generic[P, T]):  # a decorator: lower case, as property
    """Decorates a method that returns a ``Plan[T]``: on an ``Api[Caller]`` it is a
    method returning ``T``, on an ``Api[AsyncCaller]`` one returning ``Awaitable[T]``.
    ``Class.method.plan(self, ...)`` is the plan, for use in another plan."""

    def __init__(self, plan: Callable[Concatenate[Any, P], Plan[T]]) -> None:
        self.plan = plan
        self.__doc__ = plan.__doc__  # help() and docs/python.md's test read it
        self.__wrapped__ = plan  # inspect.signature too

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> api[P, T]: ...

    @overload
    def __get__(self, obj: Api[Caller], owner: type[Any] | None = None) -> Callable[P, T]: ...

    @overload
    def __get__(self, obj: Api[AsyncCaller], owner: type[Any] | None = None
                ) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: Api[Any] | None, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        plan, caller = self.plan, obj._caller
        if obj._asynchronous:
            @functools.wraps(plan)
            async def method_async(*args: Any, **kwargs: Any) -> Any:
                return await run_async(caller, plan(obj, *args, **kwargs))

            return method_async

        @functools.wraps(plan)
        def method(*args: Any, **kwargs: Any) -> Any:
            return run(caller, plan(obj, *args, **kwargs))

        return method
