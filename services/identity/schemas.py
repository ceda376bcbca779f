"""Input schemas of every identity RPC method: unknown fields rejected, sizes bounded.

Load with ``shared.schemas.load(Schema(), kwargs)``; a failure is a ValidationError naming
each field. Domain rules that need state (a taken email, an unknown skill, dates against
the clock) are checked by the domain, also as field errors.

``login`` and ``refresh`` take no ``idempotency_key``: replaying them would have to store
the issued tokens as a command result, and those must never be stored.
"""

from __future__ import annotations

from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate, validates_schema

from shared.schemas import BaseSchema, Id, MoneyField, Text, idempotency_key_field

from .domain import IDENTITY_METHODS, MARKETPLACE_ROLES, STAFF_ROLES
from .profile import AVAILABILITIES, COMPANY_SIZES, PROFICIENCIES, VISIBILITIES

EMAIL_MAX = 254
PASSWORD_MAX = 128
DISPLAY_NAME_MAX = 80
REASON_MAX = 500
REFRESH_TOKEN_MAX = 256
EMAIL_CODE_MAX = 64
URL_MAX = 2048

MAX_SKILLS = 15
SKILL_NAME_MAX = 60
MAX_PORTFOLIO = 20
MAX_EMPLOYMENT = 30
MAX_EDUCATION = 20
MAX_LANGUAGES = 20
MAX_CERTIFICATIONS = 30

YEAR_MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="Must be a month as YYYY-MM.")


def _email(**kwargs) -> fields.Email:
    return fields.Email(validate=validate.Length(max=EMAIL_MAX), **kwargs)


def _password(**kwargs) -> fields.String:
    return Text(PASSWORD_MAX, min_length=1, **kwargs)


def _optional_text(max_length: int) -> fields.String:
    return Text(max_length, allow_none=True)


def _url() -> fields.String:
    return fields.String(
        allow_none=True,
        validate=[validate.Length(max=URL_MAX), validate.URL(schemes={"http", "https"})],
    )


def _roles(choices) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf(sorted(choices))),
        required=True,
        validate=validate.Length(min=1, max=len(choices)),
    )


class RegisterSchema(BaseSchema):
    """``register``: anonymous; opens a client and/or freelancer account."""

    email = _email(required=True)
    password = _password(required=True)
    display_name = Text(DISPLAY_NAME_MAX, min_length=1, required=True)
    roles = _roles(MARKETPLACE_ROLES)
    idempotency_key = idempotency_key_field()


class CreateStaffAccountSchema(BaseSchema):
    """``create_staff_account``: an operator opens an operator and/or auditor account."""

    email = _email(required=True)
    password = _password(required=True)
    display_name = Text(DISPLAY_NAME_MAX, min_length=1, required=True)
    roles = _roles(STAFF_ROLES)
    idempotency_key = idempotency_key_field()


class LoginSchema(BaseSchema):
    """``login``: anonymous; returns an access token and a refresh token."""

    email = _email(required=True)
    password = _password(required=True)


class RefreshSchema(BaseSchema):
    """``refresh``: anonymous; trades a refresh token for new tokens."""

    refresh_token = Text(REFRESH_TOKEN_MAX, min_length=1, required=True)


class LogoutSchema(BaseSchema):
    """``logout``: ends the session of the given refresh token, or of the caller's token."""

    refresh_token = Text(REFRESH_TOKEN_MAX, min_length=1, load_default=None, allow_none=True)
    idempotency_key = idempotency_key_field()


class NoArgumentsSchema(BaseSchema):
    """Methods that take nothing but the caller's token (or nothing at all)."""


class MeSchema(NoArgumentsSchema):
    """``me``: the caller's own account."""


class PublicKeysSchema(NoArgumentsSchema):
    """``public_keys``: anonymous; the JWKS of the token-signing keys."""


class RequestEmailVerificationSchema(BaseSchema):
    """``request_email_verification``: email a fresh code to the caller."""

    idempotency_key = idempotency_key_field()


class VerifyEmailSchema(BaseSchema):
    """``verify_email``: anonymous (the emailed link carries both values)."""

    user_id = Id(required=True)
    code = Text(EMAIL_CODE_MAX, min_length=1, required=True)
    idempotency_key = idempotency_key_field()


class GetProfileSchema(BaseSchema):
    """``get_profile``: anyone, subject to the profile's visibility."""

    user_id = Id(required=True)


class PortfolioItemSchema(BaseSchema):
    title = Text(100, min_length=1, required=True)
    description = _optional_text(2000)
    url = _url()
    completed_on = fields.String(allow_none=True, validate=YEAR_MONTH)


class EmploymentSchema(BaseSchema):
    company = Text(100, min_length=1, required=True)
    title = Text(100, min_length=1, required=True)
    location = _optional_text(100)
    started_on = fields.String(required=True, validate=YEAR_MONTH)
    ended_on = fields.String(allow_none=True, validate=YEAR_MONTH)
    description = _optional_text(2000)


class EducationSchema(BaseSchema):
    school = Text(150, min_length=1, required=True)
    degree = _optional_text(100)
    field_of_study = _optional_text(100)
    start_year = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1900, 2200))
    end_year = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1900, 2200))


class LanguageSchema(BaseSchema):
    language = Text(60, min_length=1, required=True)
    proficiency = fields.String(required=True, validate=validate.OneOf(PROFICIENCIES))


class CertificationSchema(BaseSchema):
    name = Text(150, min_length=1, required=True)
    issuer = Text(150, min_length=1, required=True)
    issued_on = fields.Date(required=True)
    expires_on = fields.Date(allow_none=True)
    credential_url = _url()


def _list(schema, max_items: int) -> fields.List:
    return fields.List(fields.Nested(schema), validate=validate.Length(max=max_items))


class FreelancerProfileSchema(BaseSchema):
    title = _optional_text(70)
    overview = _optional_text(5000)
    hourly_rate = MoneyField(positive=True, allow_none=True)
    skills = fields.List(
        Text(SKILL_NAME_MAX, min_length=1), validate=validate.Length(max=MAX_SKILLS)
    )
    portfolio = _list(PortfolioItemSchema, MAX_PORTFOLIO)
    employment = _list(EmploymentSchema, MAX_EMPLOYMENT)
    education = _list(EducationSchema, MAX_EDUCATION)
    languages = _list(LanguageSchema, MAX_LANGUAGES)
    certifications = _list(CertificationSchema, MAX_CERTIFICATIONS)
    availability = fields.String(allow_none=True, validate=validate.OneOf(AVAILABILITIES))


class LocationSchema(BaseSchema):
    country = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Z]{2}$", error="Must be an ISO 3166 two-letter code."),
    )
    city = _optional_text(100)


class ClientProfileSchema(BaseSchema):
    company_name = _optional_text(100)
    company_size = fields.String(allow_none=True, validate=validate.OneOf(COMPANY_SIZES))
    location = fields.Nested(LocationSchema, allow_none=True)


class UpdateProfileSchema(BaseSchema):
    """``update_profile``: the holder (or an operator, naming ``user_id``) changes fields.

    Each field given replaces the stored one; ``null`` clears it.
    """

    user_id = Id(load_default=None, allow_none=True)
    display_name = Text(DISPLAY_NAME_MAX, min_length=1)
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    freelancer = fields.Nested(FreelancerProfileSchema)
    client = fields.Nested(ClientProfileSchema)
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _something_to_change(self, data, **kwargs):
        if not {"display_name", "visibility", "freelancer", "client"} & set(data):
            raise MarshmallowValidationError("Nothing to change.", "_schema")


class AddRoleSchema(BaseSchema):
    """``add_role``: the caller also becomes a client or a freelancer."""

    role = fields.String(required=True, validate=validate.OneOf(sorted(MARKETPLACE_ROLES)))
    idempotency_key = idempotency_key_field()


class ChangePasswordSchema(BaseSchema):
    """``change_password``: the caller proves the current password."""

    current_password = _password(required=True)
    new_password = _password(required=True)
    idempotency_key = idempotency_key_field()


class VerifyIdentitySchema(BaseSchema):
    """``verify_identity``: operator only."""

    user_id = Id(required=True)
    method = fields.String(required=True, validate=validate.OneOf(IDENTITY_METHODS))
    idempotency_key = idempotency_key_field()


class VerifyPaymentMethodSchema(BaseSchema):
    """``verify_payment_method``: the client (reference confirmed with the payment
    provider) or an operator naming ``user_id``."""

    user_id = Id(load_default=None, allow_none=True)
    provider_reference = Id(required=True)
    idempotency_key = idempotency_key_field()


class SuspendSchema(BaseSchema):
    """``suspend``: operator only, with a reason."""

    user_id = Id(required=True)
    reason = Text(REASON_MAX, min_length=1, required=True)
    idempotency_key = idempotency_key_field()


class ReinstateSchema(SuspendSchema):
    """``reinstate``: operator only, with a reason."""


class RotateKeysSchema(BaseSchema):
    """``rotate_keys``: operator only; a new signing key takes over."""

    idempotency_key = idempotency_key_field()


class ListSkillsSchema(BaseSchema):
    """``list_skills``: anonymous; the skills taxonomy, optionally one category."""

    category = Text(100, min_length=1, load_default=None, allow_none=True)


# Every RPC method of the identity service and the schema its arguments pass.
RPC_SCHEMAS = {
    "register": RegisterSchema,
    "create_staff_account": CreateStaffAccountSchema,
    "login": LoginSchema,
    "refresh": RefreshSchema,
    "logout": LogoutSchema,
    "me": MeSchema,
    "public_keys": PublicKeysSchema,
    "request_email_verification": RequestEmailVerificationSchema,
    "verify_email": VerifyEmailSchema,
    "get_profile": GetProfileSchema,
    "update_profile": UpdateProfileSchema,
    "add_role": AddRoleSchema,
    "change_password": ChangePasswordSchema,
    "verify_identity": VerifyIdentitySchema,
    "verify_payment_method": VerifyPaymentMethodSchema,
    "suspend": SuspendSchema,
    "reinstate": ReinstateSchema,
    "rotate_keys": RotateKeysSchema,
    "list_skills": ListSkillsSchema,
}


def profile_changes(loaded: dict) -> dict:
    """The part of a loaded ``UpdateProfileSchema`` that ``User.update_profile`` takes."""
    return {
        key: value
        for key, value in loaded.items()
        if key in ("display_name", "visibility", "freelancer", "client")
    }
