"""The skills taxonomy: a seeded list of skill names in categories, with aliases.

A freelancer names skills loosely ("js", "  react "); the taxonomy turns each into its one
canonical name ("JavaScript", "React") so that search and matching in other services compare
like with like. The seed lives in ``skills.txt`` next to this module.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SEED_FILE = Path(__file__).with_name("skills.txt")

_SPACES = re.compile(r"\s+")


def skill_key(name: str) -> str:
    """The lookup key of a skill name: NFKC, case-folded, with spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", name)).strip().casefold()


@dataclass(frozen=True)
class Skill:
    name: str
    category: str


class UnknownSkill(KeyError):
    """The name matches neither a skill nor an alias of the taxonomy."""


class SkillsTaxonomy:
    """Canonical skills by lookup key, with aliases resolving to the same skill."""

    def __init__(self, skills: Iterable[Skill], aliases: dict[str, str] | None = None):
        self._by_key: dict[str, Skill] = {}
        for skill in skills:
            key = skill_key(skill.name)
            if key in self._by_key:
                raise ValueError(f"skill {skill.name!r} is listed twice")
            self._by_key[key] = skill
        self._aliases: dict[str, Skill] = {}
        for alias, name in (aliases or {}).items():
            key = skill_key(alias)
            target = self._by_key.get(skill_key(name))
            if target is None:
                raise ValueError(f"alias {alias!r} points at unknown skill {name!r}")
            if key in self._by_key and self._by_key[key] != target:
                raise ValueError(f"alias {alias!r} collides with the skill of that name")
            if key in self._aliases and self._aliases[key] != target:
                raise ValueError(f"alias {alias!r} points at two skills")
            self._aliases[key] = target

    @classmethod
    def parse(cls, text: str) -> SkillsTaxonomy:
        """Read the seed format: ``[Category]`` lines, then ``Skill | alias, alias`` lines."""
        skills: list[Skill] = []
        aliases: dict[str, str] = {}
        category = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                category = line[1:-1].strip()
                continue
            if category is None:
                raise ValueError(f"line {number}: skill before any [Category]")
            name, _, alias_text = line.partition("|")
            name = name.strip()
            skills.append(Skill(name=name, category=category))
            for alias in alias_text.split(","):
                if alias.strip():
                    aliases[alias.strip()] = name
        return cls(skills, aliases)

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, name: str) -> bool:
        key = skill_key(name)
        return key in self._by_key or key in self._aliases

    def lookup(self, name: str) -> Skill:
        """The skill ``name`` denotes, by name or alias; raises ``UnknownSkill``."""
        key = skill_key(name)
        skill = self._by_key.get(key) or self._aliases.get(key)
        if skill is None:
            raise UnknownSkill(name)
        return skill

    def normalise(self, name: str) -> str:
        """The canonical name of the skill ``name`` denotes."""
        return self.lookup(name).name

    def categories(self) -> dict[str, list[str]]:
        """Skill names by category, in seed order (for a skills picker)."""
        grouped: dict[str, list[str]] = {}
        for skill in self._by_key.values():
            grouped.setdefault(skill.category, []).append(skill.name)
        return grouped


@cache
def seeded_taxonomy() -> SkillsTaxonomy:
    """The taxonomy from the seed file shipped with the service (read once)."""
    return SkillsTaxonomy.parse(SEED_FILE.read_text(encoding="utf-8"))
