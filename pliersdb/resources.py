"""The SQL shipped with pliersdb: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def directory(name: str) -> Path:
    """``sql`` or ``migrations``: packaged copy first, then the repository's."""
    packaged = _HERE / name
    if packaged.is_dir():
        return packaged
    checkout = _HERE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"pliersdb's {name}/ directory is missing from this installation")
