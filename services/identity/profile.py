"""Profile rules: what a freelancer or client profile may hold, and how a change applies.

A profile is plain JSON (the form it takes in ``ProfileUpdated``)::

    {"display_name": str, "visibility": "public" | "signed_in" | "private",
     "freelancer": {"title", "overview", "hourly_rate", "skills", "portfolio",
                    "employment", "education", "languages", "certifications",
                    "availability"},
     "client": {"company_name", "company_size", "location"}}

Changes come from ``schemas.UpdateProfileSchema`` (sizes already bounded); the rules here
are the ones that need the account's roles, the clock, the settings or the skills taxonomy.
A change replaces each field it names; ``None`` (or ``[]`` for a list) clears it.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime

from shared.errors import ValidationError
from shared.money import Money, MoneyError

from .settings import IdentitySettings
from .skills import SkillsTaxonomy, UnknownSkill

VISIBILITIES = ("public", "signed_in", "private")
PROFICIENCIES = ("basic", "conversational", "fluent", "native")
AVAILABILITIES = ("more_than_30_hrs_week", "less_than_30_hrs_week", "as_needed", "not_available")
COMPANY_SIZES = ("just_me", "2_to_9", "10_to_99", "100_to_999", "1000_plus")

FREELANCER_FIELDS = (
    "title",
    "overview",
    "hourly_rate",
    "skills",
    "portfolio",
    "employment",
    "education",
    "languages",
    "certifications",
    "availability",
)
CLIENT_FIELDS = ("company_name", "company_size", "location")
LIST_FIELDS = ("skills", "portfolio", "employment", "education", "languages", "certifications")

EARLIEST_YEAR = 1900
# Education may name an expected graduation this many years ahead.
MAX_STUDY_YEARS_AHEAD = 10

_YEAR_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def empty_profile(display_name: str) -> dict:
    """The profile of a new account: public, with every section blank."""
    return {
        "display_name": display_name,
        "visibility": "public",
        "freelancer": {name: [] if name in LIST_FIELDS else None for name in FREELANCER_FIELDS},
        "client": {name: None for name in CLIENT_FIELDS},
    }


class _Errors:
    """Collects messages per field so one call reports every problem at once."""

    def __init__(self):
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError("invalid profile", self.fields)


def apply_profile_changes(
    profile: dict,
    changes: dict,
    *,
    roles: list[str],
    now: datetime,
    settings: IdentitySettings,
    taxonomy: SkillsTaxonomy,
) -> tuple[dict, list[str]]:
    """The profile after ``changes``, and the dotted names of the fields that changed.

    Raises ValidationError naming every offending field (``freelancer.skills`` etc.);
    nothing is applied unless everything is valid.
    """
    errors = _Errors()
    updated = copy.deepcopy(profile)
    unknown = set(changes) - {"display_name", "visibility", "freelancer", "client"}
    for name in sorted(unknown):
        errors.add(name, "Unknown field.")
    if "display_name" in changes:
        name = _clean_text(changes["display_name"])
        if not name:
            errors.add("display_name", "Must not be blank.")
        updated["display_name"] = name
    if "visibility" in changes:
        if changes["visibility"] not in VISIBILITIES:
            errors.add("visibility", f"Must be one of: {', '.join(VISIBILITIES)}.")
        updated["visibility"] = changes["visibility"]
    if "freelancer" in changes:
        if "freelancer" not in roles:
            errors.add("freelancer", "Add the freelancer role before filling a freelancer profile.")
        else:
            _apply_freelancer(
                updated["freelancer"], changes["freelancer"], now, settings, taxonomy, errors
            )
    if "client" in changes:
        if "client" not in roles:
            errors.add("client", "Add the client role before filling a client profile.")
        else:
            _apply_client(updated["client"], changes["client"], errors)
    errors.raise_if_any()
    return updated, _changed_fields(profile, updated)


def _changed_fields(before: dict, after: dict) -> list[str]:
    changed = [k for k in ("display_name", "visibility") if before[k] != after[k]]
    for section in ("freelancer", "client"):
        changed += [
            f"{section}.{k}" for k in after[section] if before[section].get(k) != after[section][k]
        ]
    return changed


def _clean_text(value) -> str | None:
    """Trimmed text, or None for a missing or blank value."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _apply_freelancer(section, changes, now, settings, taxonomy, errors) -> None:
    for name in sorted(set(changes) - set(FREELANCER_FIELDS)):
        errors.add(f"freelancer.{name}", "Unknown field.")
    for name in ("title", "overview"):
        if name in changes:
            section[name] = _clean_text(changes[name])
    if "hourly_rate" in changes:
        section["hourly_rate"] = _hourly_rate(changes["hourly_rate"], settings, errors)
    if "skills" in changes:
        section["skills"] = _skills(changes["skills"] or [], settings, taxonomy, errors)
    if "portfolio" in changes:
        section["portfolio"] = _portfolio(changes["portfolio"] or [], now, errors)
    if "employment" in changes:
        section["employment"] = _employment(changes["employment"] or [], now, errors)
    if "education" in changes:
        section["education"] = _education(changes["education"] or [], now, errors)
    if "languages" in changes:
        section["languages"] = _languages(changes["languages"] or [], errors)
    if "certifications" in changes:
        section["certifications"] = _certifications(changes["certifications"] or [], now, errors)
    if "availability" in changes:
        value = changes["availability"]
        if value is not None and value not in AVAILABILITIES:
            errors.add("freelancer.availability", f"Must be one of: {', '.join(AVAILABILITIES)}.")
        section["availability"] = value


def _hourly_rate(value, settings: IdentitySettings, errors: _Errors) -> dict | None:
    if value is None:
        return None
    field = "freelancer.hourly_rate"
    try:
        rate = value if isinstance(value, Money) else Money.from_dict(value)
    except (MoneyError, KeyError, TypeError):
        errors.add(field, "Must be an amount in minor units with a currency.")
        return None
    low, high = settings.min_hourly_rate, settings.max_hourly_rate
    if rate.currency != low.currency:
        errors.add(field, f"Must be quoted in {low.currency}.")
    elif not low <= rate <= high:
        errors.add(field, f"Must be between {low} and {high}.")
    return rate.to_dict()


def _skills(names, settings, taxonomy: SkillsTaxonomy, errors: _Errors) -> list[str]:
    field = "freelancer.skills"
    if len(names) > settings.max_skills:
        errors.add(field, f"At most {settings.max_skills} skills.")
    canonical: list[str] = []
    for name in names:
        try:
            skill = taxonomy.normalise(name)
        except UnknownSkill:
            errors.add(field, f"Unknown skill {name!r}; pick one from the skills list.")
            continue
        if skill in canonical:
            errors.add(field, f"{skill} is listed twice.")
            continue
        canonical.append(skill)
    return canonical


def _current_month(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


def _year_month(value, field: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _YEAR_MONTH.match(value):
        errors.add(field, "Must be a month as YYYY-MM.")
        return None
    if int(value[:4]) < EARLIEST_YEAR:
        errors.add(field, f"Must not be before {EARLIEST_YEAR}.")
    return value


def _day(value, field: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(value)
    except (TypeError, ValueError):
        errors.add(field, "Must be a date as YYYY-MM-DD.")
        return None
    if parsed.year < EARLIEST_YEAR:
        errors.add(field, f"Must not be before {EARLIEST_YEAR}.")
    return parsed.isoformat()


def _url(value, field: str, errors: _Errors) -> str | None:
    value = _clean_text(value)
    if value is not None and not re.match(r"^https?://[^\s/]+\S*$", value):
        errors.add(field, "Must be an http or https address.")
    return value


def _portfolio(items, now: datetime, errors: _Errors) -> list[dict]:
    result = []
    for i, item in enumerate(items):
        field = f"freelancer.portfolio.{i}"
        title = _clean_text(item.get("title"))
        if not title:
            errors.add(f"{field}.title", "Must not be blank.")
        completed = _year_month(item.get("completed_on"), f"{field}.completed_on", errors)
        if completed is not None and completed > _current_month(now):
            errors.add(f"{field}.completed_on", "Must not be in the future.")
        result.append(
            {
                "title": title,
                "description": _clean_text(item.get("description")),
                "url": _url(item.get("url"), f"{field}.url", errors),
                "completed_on": completed,
            }
        )
    return result


def _employment(items, now: datetime, errors: _Errors) -> list[dict]:
    result = []
    this_month = _current_month(now)
    for i, item in enumerate(items):
        field = f"freelancer.employment.{i}"
        started = _year_month(item.get("started_on"), f"{field}.started_on", errors)
        ended = _year_month(item.get("ended_on"), f"{field}.ended_on", errors)
        if item.get("started_on") is None:
            errors.add(f"{field}.started_on", "Missing data for required field.")
        if started is not None and started > this_month:
            errors.add(f"{field}.started_on", "Must not be in the future.")
        if ended is not None and ended > this_month:
            errors.add(f"{field}.ended_on", "Must not be in the future; leave empty if current.")
        if started is not None and ended is not None and ended < started:
            errors.add(f"{field}.ended_on", "Must not be before the start.")
        for name in ("company", "title"):
            if not _clean_text(item.get(name)):
                errors.add(f"{field}.{name}", "Must not be blank.")
        result.append(
            {
                "company": _clean_text(item.get("company")),
                "title": _clean_text(item.get("title")),
                "location": _clean_text(item.get("location")),
                "started_on": started,
                "ended_on": ended,
                "description": _clean_text(item.get("description")),
            }
        )
    return result


def _education(items, now: datetime, errors: _Errors) -> list[dict]:
    result = []
    for i, item in enumerate(items):
        field = f"freelancer.education.{i}"
        start, end = item.get("start_year"), item.get("end_year")
        if not _clean_text(item.get("school")):
            errors.add(f"{field}.school", "Must not be blank.")
        for name, year in (("start_year", start), ("end_year", end)):
            if year is not None and (type(year) is not int or year < EARLIEST_YEAR):
                errors.add(f"{field}.{name}", f"Must be a year from {EARLIEST_YEAR}.")
        if type(start) is int and start > now.year:
            errors.add(f"{field}.start_year", "Must not be in the future.")
        if type(end) is int and end > now.year + MAX_STUDY_YEARS_AHEAD:
            errors.add(f"{field}.end_year", f"Must be at most {MAX_STUDY_YEARS_AHEAD} years ahead.")
        if type(start) is int and type(end) is int and end < start:
            errors.add(f"{field}.end_year", "Must not be before the start year.")
        result.append(
            {
                "school": _clean_text(item.get("school")),
                "degree": _clean_text(item.get("degree")),
                "field_of_study": _clean_text(item.get("field_of_study")),
                "start_year": start,
                "end_year": end,
            }
        )
    return result


def _languages(items, errors: _Errors) -> list[dict]:
    result = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        field = f"freelancer.languages.{i}"
        language = _clean_text(item.get("language"))
        if not language:
            errors.add(f"{field}.language", "Must not be blank.")
        elif language.casefold() in seen:
            errors.add(f"{field}.language", f"{language} is listed twice.")
        else:
            seen.add(language.casefold())
        if item.get("proficiency") not in PROFICIENCIES:
            errors.add(f"{field}.proficiency", f"Must be one of: {', '.join(PROFICIENCIES)}.")
        result.append({"language": language, "proficiency": item.get("proficiency")})
    return result


def _certifications(items, now: datetime, errors: _Errors) -> list[dict]:
    result = []
    today = now.date().isoformat()
    for i, item in enumerate(items):
        field = f"freelancer.certifications.{i}"
        for name in ("name", "issuer"):
            if not _clean_text(item.get(name)):
                errors.add(f"{field}.{name}", "Must not be blank.")
        issued = _day(item.get("issued_on"), f"{field}.issued_on", errors)
        expires = _day(item.get("expires_on"), f"{field}.expires_on", errors)
        if item.get("issued_on") is None:
            errors.add(f"{field}.issued_on", "Missing data for required field.")
        if issued is not None and issued > today:
            errors.add(f"{field}.issued_on", "Must not be in the future.")
        if issued is not None and expires is not None and expires < issued:
            errors.add(f"{field}.expires_on", "Must not be before the issue date.")
        result.append(
            {
                "name": _clean_text(item.get("name")),
                "issuer": _clean_text(item.get("issuer")),
                "issued_on": issued,
                "expires_on": expires,
                "credential_url": _url(
                    item.get("credential_url"), f"{field}.credential_url", errors
                ),
            }
        )
    return result


def _apply_client(section, changes, errors: _Errors) -> None:
    for name in sorted(set(changes) - set(CLIENT_FIELDS)):
        errors.add(f"client.{name}", "Unknown field.")
    if "company_name" in changes:
        section["company_name"] = _clean_text(changes["company_name"])
    if "company_size" in changes:
        size = changes["company_size"]
        if size is not None and size not in COMPANY_SIZES:
            errors.add("client.company_size", f"Must be one of: {', '.join(COMPANY_SIZES)}.")
        section["company_size"] = size
    if "location" in changes:
        location = changes["location"]
        if location is None:
            section["location"] = None
        else:
            country = location.get("country")
            if not isinstance(country, str) or not _COUNTRY.match(country):
                errors.add("client.location.country", "Must be an ISO 3166 two-letter code.")
            section["location"] = {"country": country, "city": _clean_text(location.get("city"))}
