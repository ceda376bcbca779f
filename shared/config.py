"""Reading nameko config values that come as text from the environment."""

from __future__ import annotations

from collections.abc import Mapping

_OFF = ("0", "false", "no", "off")


def flag(config: Mapping, key: str, default: bool = True) -> bool:
    """A yes/no setting: ``0``, ``false``, ``no`` and ``off`` (any case) are no, anything
    else is yes; ``default`` when the key is absent or empty."""
    value = config.get(key)
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() not in _OFF
