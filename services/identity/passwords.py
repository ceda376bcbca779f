"""Password hashing (argon2id) and the password policy.

Hashing sits behind ``PasswordHasher`` so that tests can use cheap parameters; production
uses the defaults of argon2-cffi (RFC 9106 low-memory profile). The policy follows NIST SP
800-63B: a length range, no composition rules, and a refusal of well-known and trivially
guessable passwords.
"""

from __future__ import annotations

import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.errors import ValidationError

# Passwords at the top of every breach list; a policy refuses them whatever their length.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890",
        "12345678910",
        "0123456789",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "qwertyuiop",
        "qwerty123456",
        "qwertyuiop123",
        "asdfghjkl123",
        "zxcvbnm123",
        "password123",
        "password1234",
        "password12345",
        "passw0rd123",
        "p@ssw0rd123",
        "p@ssword123",
        "iloveyou123",
        "welcome123",
        "welcome1234",
        "letmein123",
        "letmein1234",
        "administrator",
        "admin123456",
        "changeme123",
        "trustno1234",
        "football123",
        "baseball123",
        "basketball",
        "princess123",
        "sunshine123",
        "starwars123",
        "superman123",
        "qazwsxedcrfv",
        "1qaz2wsx3edc",
        "abcdefghij",
        "abc123456789",
        "monkey123456",
        "dragon123456",
        "master123456",
        "michael123",
        "jennifer123",
        "chocolate123",
        "whatever123",
        "computer123",
        "internet123",
        "marketplace",
        "freelancer",
        "freelancer123",
        "upwork123456",
    }
)


def normalise_password(password: str) -> str:
    """NFKC form, so the same password typed on two keyboards hashes the same way."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    """argon2id hashing with parameters fixed at construction."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4):
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )

    _decoy: str | None = None

    @classmethod
    def cheap(cls) -> PasswordHasher:
        """Minimal parameters for tests only: fast, and still argon2id."""
        return cls(time_cost=1, memory_cost=8, parallelism=1)

    def hash(self, password: str) -> str:
        """An encoded argon2id hash (salt and parameters included)."""
        return self._hasher.hash(normalise_password(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a mismatch or an unreadable hash."""
        try:
            return self._hasher.verify(password_hash, normalise_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_decoy(self, password: str) -> bool:
        """Spend the time of a real verification and return False.

        Used when no account matches, so that response time does not tell an attacker
        which emails are registered.
        """
        if self._decoy is None:
            self._decoy = self.hash("decoy: no account has this password hash")
        self.verify(self._decoy, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


class PasswordPolicy:
    """What a new password must satisfy; failures name the field ``password``."""

    def __init__(self, min_length: int = 10, max_length: int = 128):
        self.min_length = min_length
        self.max_length = max_length

    @classmethod
    def from_settings(cls, settings) -> PasswordPolicy:
        """The policy with the length bounds of an ``IdentitySettings``."""
        return cls(settings.password_min_length, settings.password_max_length)

    def problems(self, password: str, email: str | None = None) -> list[str]:
        """Every rule ``password`` breaks, as messages for the user (empty when none)."""
        password = normalise_password(password)
        problems = []
        if len(password) < self.min_length:
            problems.append(f"Must be at least {self.min_length} characters long.")
        if len(password) > self.max_length:
            problems.append(f"Must be at most {self.max_length} characters long.")
        folded = password.casefold()
        if folded in COMMON_PASSWORDS:
            problems.append("Is one of the most common passwords; choose another.")
        if len(set(folded)) < 4:
            problems.append("Must use at least 4 different characters.")
        elif _is_run(folded):
            problems.append("Must not be a simple sequence of characters.")
        if email:
            local = email.split("@", 1)[0].casefold()
            if len(local) >= 4 and local in folded:
                problems.append("Must not contain your email address.")
        return problems

    def check(self, password: str, email: str | None = None) -> None:
        """Raise a ValidationError on ``password`` when any rule is broken."""
        problems = self.problems(password, email)
        if problems:
            raise ValidationError("password does not meet the policy", {"password": problems})


def _is_run(text: str) -> bool:
    """True for strings like "abcdefghijk" or "9876543210": each step one code point."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {1, -1}
