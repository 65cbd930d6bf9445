"""The user: a person who signs in. What they may see is decided by their Membership."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac


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
