"""The user: a person who signs in. What they may see is decided by their Membership."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any, ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, TimestampMixin  # type: ignore[import-untyped]
from django_otp.plugins.otp_totp.models import TOTPDevice  # type: ignore[import-untyped]


def normal_email(email: str) -> str:
    """An email address as Ally stores and compares it: trimmed and in lower case, so that
    "Alex@Practice.example" signs in as "alex@practice.example" and no second account can take
    the same address in other capitals. (RFC 5321 lets a server tell capitals apart in the part
    before the "@"; no mail service people use does.)"""
    return email.strip().lower()


class UserManager(BaseUserManager):
    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return normal_email(email or "")

    def get_by_natural_key(self, username: str | None) -> User:
        """The account signing in with `username` (Django's ModelBackend asks), in any case."""
        return self.get(email=normal_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


SESSION_HASH_SALT = "ally.web.accounts.User.session_auth_hash"


class User(AbstractBaseUser, PermissionsMixin):
    """Signs in with an email address; one user may belong to several organisations."""

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    session_generation = models.PositiveIntegerField(
        default=0, help_text="Raised to end every session of the user (sign out everywhere)."
    )
    setup_code = models.CharField(
        max_length=120,
        blank=True,
        help_text="Salt and PBKDF2 hash of the one-time code an administrator handed over when "
        "they reset the second factor: asked for with the password when a new app is set up.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.display_name or self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # However the address arrives (a form, `ally manage createsuperuser`, the shell).
        self.email = normal_email(self.email)
        super().save(*args, **kwargs)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Django's session hash, which every request's session is checked against (and its
        fallbacks), with the session generation in it: raising it ends every older session the
        way a new password does. Generation 0 keeps Django's own hash."""
        if not self.session_generation:
            return str(super()._get_session_auth_hash(secret=secret))
        value = f"{self.password}:{self.session_generation}"
        return salted_hmac(SESSION_HASH_SALT, value, secret=secret, algorithm="sha256").hexdigest()


# Recovery codes ---------------------------------------------------------------------------------

RECOVERY_HASH_ITERATIONS = 50_000
"""PBKDF2-HMAC-SHA256 rounds for a recovery code (NIST SP 800-132). A code holds 50 random bits;
at this cost trying them all against one stolen hash takes about 2**50 * 50,000 SHA-256 runs.
Checking a code tries at most the ten of one member (some 10 ms each)."""
RECOVERY_SALT_BYTES = 16
"""A random salt per code, well above the 32 bits ASVS 6.5.2 asks for."""


def recovery_digest(code: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, RECOVERY_HASH_ITERATIONS).hex()


class RecoveryCodes(TimestampMixin, Device):
    """A member's single-use recovery codes, a second factor for a lost phone. Only salted hashes
    are kept (ASVS 6.5.2; django-otp's own StaticToken keeps the codes as typed)."""

    def verify_token(self, token: str) -> bool:
        """Whether `token` is one of the unused codes; a code that matches is used up."""
        for code in self.codes.all():
            if code.matches(str(token)):
                code.delete()
                self.set_last_used_timestamp(commit=False)
                self.save()
                return True
        return False


class RecoveryCode(models.Model):
    """One unused recovery code, as its salt and PBKDF2 hash."""

    device = models.ForeignKey(RecoveryCodes, on_delete=models.CASCADE, related_name="codes")
    salt = models.CharField(max_length=2 * RECOVERY_SALT_BYTES)
    digest = models.CharField(max_length=64)

    @classmethod
    def hashed(cls, device: RecoveryCodes, code: str) -> RecoveryCode:
        salt = secrets.token_bytes(RECOVERY_SALT_BYTES)
        return cls(device=device, salt=salt.hex(), digest=recovery_digest(code, salt))

    def matches(self, code: str) -> bool:
        return hmac.compare_digest(recovery_digest(code, bytes.fromhex(self.salt)), self.digest)


# Signed-in devices ------------------------------------------------------------------------------


class SignedInSession(models.Model):
    """One browser a member is signed in on, for their own list of devices (ASVS 7.5.2): each
    can be ended there. The session holds this row's key; a session whose row is gone ends."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="signed_in_sessions")
    session_key = models.CharField(max_length=40, help_text="Django's key, kept up to date.")
    signed_in_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    device = models.CharField(max_length=80, blank=True, help_text='e.g. "Firefox on Linux".')
    ip = models.CharField(max_length=45, blank=True, help_text="An IP address, validated.")

    class Meta:
        indexes = (models.Index(fields=["user", "last_seen_at"]),)


class PracticeSignOut(models.Model):
    """A practice's administrator signed a member out of that practice: the member's sessions
    started before `signed_out_at` no longer open its pages or API, while their sessions at other
    practices go on."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        "practice.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    signed_out_at = models.DateTimeField()

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user", "organisation"], name="practice_sign_out_once"),
        )


# Authenticator apps, their secrets sealed -------------------------------------------------------

SEALED_TOTP = "s1"
"""Prefix of a TOTP secret sealed in TOTPDevice.key: "s1:<master key version>:<base64>"."""


def _totp_context(user_id: int, master_version: int) -> bytes:
    return f"ally|otp_totp_totpdevice|key|user={user_id}|kek={master_version}".encode()


def seal_totp_secret(secret: bytes, user_id: int) -> str:
    """A TOTP secret sealed with AES-GCM under the newest master key, bound to its member."""
    from ally.web.privacy.keys import master_keys
    from ally.web.privacy.sealed import seal

    master = master_keys().newest
    sealed = seal(secret, master.material, _totp_context(user_id, master.version))
    return f"{SEALED_TOTP}:{master.version}:{base64.b64encode(sealed).decode('ascii')}"


def totp_master_version(stored: str) -> int | None:
    """The master key version a stored secret is sealed under; None for a plain hex secret."""
    prefix, _, rest = stored.partition(":")
    if prefix != SEALED_TOTP:
        return None
    return int(rest.partition(":")[0])


def open_totp_secret(stored: str, user_id: int) -> bytes:
    """The secret of a stored key: sealed by Ally, or hex as django-otp writes it."""
    from ally.web.privacy.keys import master_keys
    from ally.web.privacy.sealed import unseal

    version = totp_master_version(stored)
    if version is None:
        return binascii.unhexlify(stored.encode())
    sealed = base64.b64decode(stored.split(":", 2)[2])
    return unseal(sealed, master_keys().get(version).material, _totp_context(user_id, version))


class SealedTOTPDevice(TOTPDevice):
    """django-otp's TOTP authenticator with its secret sealed at rest under the server's master
    key (ALLY_ENCRYPTION_KEYS), never in the database in the clear: django-otp keeps it as hex.
    Everything else (codes, drift, the last step used) is django-otp's own."""

    key: str
    """django-otp's column: here the sealed secret (a plain hex one is sealed at the next save)."""

    class Meta:
        proxy = True

    @property
    def bin_key(self) -> bytes:
        stored: str = self.key
        return open_totp_secret(stored, self.user_id)

    def save(self, *args: Any, **kwargs: Any) -> None:
        stored: str = self.key
        if totp_master_version(stored) is None:
            self.key = seal_totp_secret(binascii.unhexlify(stored.encode()), self.user_id)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "key"}
        super().save(*args, **kwargs)
