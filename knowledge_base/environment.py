"""The one settings reader of all three packages (knowledge_base, actions, handoff).

Values come from the process environment, then `.env` at the project root, then the default
the caller names (each default written once, in its settings class). A malformed value raises
SettingsError naming the key, the bad value, the default and where to fix it. Relative paths are
read against the project root, the same way for every package (a hub started from another folder
finds the same articles as the index build).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it and says what to do."""


def read_environment(env_file: Path | None = None) -> dict[str, str]:
    """`.env` values overlaid by the real environment (the environment wins)."""
    path = env_file if env_file is not None else PROJECT_ROOT / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    values.update(os.environ)
    return values


class Environment:
    """Typed reads of one snapshot of the settings."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self.values: Mapping[str, str] = read_environment() if values is None else values

    def raw(self, name: str) -> str:
        return str(self.values.get(name, "") or "").strip()

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def number(self, name: str, default: float) -> float:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number; fix it in .env (default {default})") from None

    def integer(self, name: str, default: int) -> int:
        raw = self.raw(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number; fix it in .env (default {default})") from None

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.raw(name).lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r} is not true or false; fix it in .env (default {str(default).lower()})")

    def path(self, name: str, default: Path) -> Path:
        raw = self.raw(name)
        if not raw:
            return default
        path = Path(raw).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path

    def items(self, name: str, default: str) -> tuple[str, ...]:
        """A comma-separated list (trailing slashes dropped: these are URLs and origins)."""
        return tuple(item.strip().rstrip("/") for item in (self.raw(name) or default).split(",") if item.strip())
