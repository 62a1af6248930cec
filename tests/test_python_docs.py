"""docs/python.md documents every public name of the library: pliersdb.__all__, the
__all__ of each API module, and every public method and property of the databases,
units, sessions and API groups (found by introspection), each in its class's section."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import pliersdb
from pliersdb import (
    access,
    aio,
    api_keys,
    choice_lists,
    db,
    executions,
    forms,
    jobs,
    organizations,
    submissions,
    teams,
    users,
    workflows,
)
from pliersdb._api import Api, api

DOC = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()
MODULES: list[ModuleType] = [forms, choice_lists, submissions, users, teams, access, api_keys,
                             organizations, workflows, executions, jobs]


def subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *subclasses(sub)]
    return found


CLASSES = [db.Database, db.UnitOfWork, db.SessionBase, db.Session, aio.AsyncDatabase,
           aio.AsyncUnitOfWork, aio.AsyncSession, *subclasses(Api)]


def public_members(cls: type) -> list[str]:
    """What a class defines itself (inherited members are documented with their class)."""
    return [name for name, value in vars(cls).items() if not name.startswith("_") and (
        isinstance(value, (api, property)) or inspect.isfunction(value))]


def section(name: str) -> str:
    """The text under the heading `` #### `name` ``, to the next heading."""
    match = re.search(rf"^#### `{re.escape(name)}`\n(.*?)(?=^#)", DOC + "\n#", re.S | re.M)
    assert match, f"docs/python.md has no section #### `{name}`"
    return match.group(1)


def documented(name: str, text: str) -> bool:
    return re.search(rf"`{re.escape(name)}\b", text) is not None


def test_the_classes_are_found() -> None:
    assert {c.__name__ for c in CLASSES} >= {
        "Forms", "SubmissionsApi", "Submissions", "AsyncSubmissions", "Users", "Teams",
        "Access", "ApiKeys", "OrganizationApi", "PlatformApi", "Platform", "AsyncPlatform"}


@pytest.mark.parametrize("name", sorted(pliersdb.__all__))
def test_every_name_of_the_package_is_documented(name: str) -> None:
    assert documented(name, DOC), f"docs/python.md does not mention `{name}`"


@pytest.mark.parametrize("name", sorted({n for m in MODULES for n in m.__all__}))
def test_every_name_of_the_api_modules_is_documented(name: str) -> None:
    assert documented(name, DOC), f"docs/python.md does not mention `{name}`"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_method_is_documented_in_its_class_section(cls: type) -> None:
    text = section(cls.__name__)
    missing = [name for name in public_members(cls) if not documented(name, text)]
    assert not missing, f"{cls.__name__}: {missing} not in docs/python.md"


def test_a_name_removed_from_the_docs_fails() -> None:
    text = section("Forms").replace("`publish(", "`")
    assert not documented("publish", text)
