"""The fixed category taxonomy (``categories.yaml``) and the skill-name check.

Categories belong to the jobs service and are seeded from the file beside this module.
Skills belong to identity: the service hands the current list of skill names in, and
``canonical_skills`` maps what a client typed onto the taxonomy's own spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

TAXONOMY_FILE = Path(__file__).with_name("categories.yaml")


@dataclass(frozen=True)
class Category:
    slug: str
    label: str
    subcategories: Mapping[str, str]  # slug -> label


@dataclass(frozen=True)
class Taxonomy:
    categories: Mapping[str, Category]

    def has_category(self, slug: str) -> bool:
        """True when ``slug`` names a category."""
        return slug in self.categories

    def has_subcategory(self, category: str, subcategory: str) -> bool:
        """True when ``subcategory`` belongs to ``category``."""
        found = self.categories.get(category)
        return found is not None and subcategory in found.subcategories

    def as_dict(self) -> dict:
        """The taxonomy as plain JSON, for a ``list_categories`` answer or a UI."""
        return {
            slug: {"label": c.label, "subcategories": dict(c.subcategories)}
            for slug, c in self.categories.items()
        }


def parse_taxonomy(text: str) -> Taxonomy:
    """Build a Taxonomy from the YAML text of a categories file, checking its shape."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not raw:
        raise ValueError("taxonomy must be a non-empty mapping of categories")
    categories = {}
    for slug, body in raw.items():
        if not isinstance(body, dict) or not isinstance(body.get("label"), str):
            raise ValueError(f"category {slug!r} needs a label")
        subs = body.get("subcategories")
        if not isinstance(subs, dict) or not subs:
            raise ValueError(f"category {slug!r} needs subcategories")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in subs.items()):
            raise ValueError(f"category {slug!r} has a malformed subcategory")
        categories[str(slug)] = Category(str(slug), body["label"], dict(subs))
    return Taxonomy(categories)


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The seeded taxonomy shipped with the service (read once, then cached)."""
    return parse_taxonomy(TAXONOMY_FILE.read_text(encoding="utf-8"))


def canonical_skills(requested: Iterable[str], known: Iterable[str]) -> tuple[list[str], list[str]]:
    """Map requested skill names onto the known list, ignoring case and outer spaces.

    Returns ``(canonical names in request order without duplicates, unknown names)``.
    """
    by_key = {name.strip().casefold(): name for name in known}
    found: list[str] = []
    unknown: list[str] = []
    for name in requested:
        canonical = by_key.get(name.strip().casefold())
        if canonical is None:
            unknown.append(name)
        elif canonical not in found:
            found.append(canonical)
    return found, unknown


# identity's seed list of skills; jobs reads the names only (not identity's database).
DEFAULT_SKILLS_FILE = Path(__file__).resolve().parent.parent / "identity" / "skills.txt"


@lru_cache(maxsize=4)
def load_skill_names(path: str | Path = DEFAULT_SKILLS_FILE) -> tuple[str, ...]:
    """Canonical skill names from a skills file (``Name | alias, ...`` lines; ``#`` comments
    and ``[Category]`` headers skipped)."""
    names = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")):
            continue
        names.append(line.split("|", 1)[0].strip())
    return tuple(n for n in names if n)
