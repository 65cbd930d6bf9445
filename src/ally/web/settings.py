"""Django settings for Ally, read from ALLY_* environment variables.

ALLY_DATA_DIR       folder for the SQLite database and the generated secret key (./ally-data)
ALLY_SECRET_KEY     Django's secret key; without it one is generated once into the data folder
ALLY_SECRET_KEY_FALLBACKS  comma-separated previous keys, during a key rotation
ALLY_DEBUG          "1" to turn on Django's debug pages (never in production)
ALLY_ALLOWED_HOSTS  comma-separated host names (default: localhost only)
ALLY_DATABASE_URL   postgresql://user:password@host:port/name or sqlite:///file.db
ALLY_DB_ENGINE      "sqlite" (default) or "postgresql", with ALLY_DB_NAME, ALLY_DB_USER,
                    ALLY_DB_PASSWORD, ALLY_DB_HOST and ALLY_DB_PORT
ALLY_BASE_URL       the address clients' links start with (http://localhost:8000)
ALLY_LINK_HOURS     how long a client's link stays valid (72)
ALLY_EMAIL_BACKEND  Django email backend (console); ALLY_EMAIL_HOST, _PORT, _USER, _PASSWORD,
                    _TLS and _FROM for SMTP
ALLY_LOCAL_HTTP     "1" when served over plain HTTP on this machine (`ally serve` sets it)
ALLY_TIME_ZONE      the practice's time zone for dates on screens (UTC)
ALLY_SEND_BEFORE_HOURS, ALLY_REMIND_AFTER_HOURS  when send_due_links sends links (24, 24)
ALLY_DROPOUT_ALERT  dropout risk that raises an alert once the practice model has a dropout
                    model (0.5)
ALLY_FIT_IN_BACKGROUND  "Fit now" fits in a thread after the response (1); 0 fits in the request
ALLY_SESSION_IDLE_MINUTES  a member is signed out after this long without a request (30)
ALLY_SESSION_MAX_HOURS     and this long after signing in, whatever they do (12)
ALLY_LOCKOUT_FAILURES      failed passwords or codes, from one address, that lock an account
                           there (5)
ALLY_LOCKOUT_MINUTES       how long such a lock lasts after the last failed try, unless an
                           administrator unlocks it sooner (15)
ALLY_REAUTH_MINUTES  how long a confirmed password and code allow changes to the account (5)
ALLY_ENCRYPTION_KEYS  master keys for clients' names and contact details, "version:base64key",
                    comma-separated, newest first; without it one is generated once into the
                    data folder (file encryption_keys). Keep it out of backups (docs/backup.md).
ALLY_ENDED_GRACE_HOURS  hours after an episode's last day in which its last forms still take
                    answers (48)
ALLY_ENDING_FORM_DAYS  days a planned ending's final measures and review take answers (14)
ALLY_FOLLOW_UP_DAYS  days a follow-up check takes answers once it is sent (14)
ALLY_STOPPED_MESSAGE  "1" lets a clinician tell a client who stopped that the practice noticed
                    (off: nothing is sent after an unplanned ending)
ALLY_PROXY_COUNT    trusted proxies in front of Ally, for the addresses in the audit log (0)
ALLY_RECORDING_MAX_MB  largest session recording a clinician may upload, in megabytes (500)
ALLY_RECORDING_RETENTION_DAYS  days a recording is kept unless the client chooses fewer (90)
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from ally.web.database import database_from_env


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(data_dir: Path) -> str:
    """The key from ALLY_SECRET_KEY, or one generated on first start and kept in the data folder."""
    if key := os.environ.get("ALLY_SECRET_KEY", "").strip():
        return key
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once cannot overwrite each other's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


WEB_DIR = Path(__file__).resolve().parent
ALLY_DATA_DIR = Path(os.environ.get("ALLY_DATA_DIR", "ally-data")).resolve()

SECRET_KEY = _secret_key(ALLY_DATA_DIR)
# Key rotation: the previous keys still verify existing sessions and links until they expire.
SECRET_KEY_FALLBACKS = [
    key.strip() for key in os.environ.get("ALLY_SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
]
DEBUG = _flag("ALLY_DEBUG")
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLY_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "ninja",
    "oauth2_provider",
    "ally.web.accounts",
    "ally.web.practice",
    "ally.web.collect",
    "ally.web.alerts",
    "ally.web.monitoring",
    "ally.web.respond",
    "ally.web.clinic",
    "ally.web.dashboard",
    "ally.web.auditlog",
    "ally.web.privacy",
    "ally.web.apiclients",
    "ally.web.fhir",
    "ally.web.goals",
    "ally.web.sponsors",
    "ally.web.selfcare",
    "ally.web.research",
    "ally.web.ipr",
    "ally.web.endings",
    "ally.web.groups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # A coaching practice's words (ally.web.vocabulary), set per request by the page's practice.
    "ally.web.vocabulary.PracticeWordsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "ally.web.headers.NoStoreMiddleware",
    # The sign-in rules come after the headers (their refusals get them too) and inside the
    # audit (their sign-out entries carry the request's address).
    "ally.web.audit.AuditMiddleware",
    "ally.web.accounts.sessions.SessionTimeoutMiddleware",
    "ally.web.accounts.two_factor.TwoFactorMiddleware",
    # Last, as django-axes asks: it turns a lockout into the locked page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ally.web.urls"
WSGI_APPLICATION = "ally.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [WEB_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_env(os.environ, ALLY_DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Argon2id with RFC 9106's parameters (accounts/hashers.py); a stored hash with other
# parameters (or another algorithm below) is rehashed at the member's next sign-in.
PASSWORD_HASHERS = [
    "ally.web.accounts.hashers.RFC9106Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Cookies: never readable from scripts; secure when served over HTTPS (not in local debug).
SESSION_COOKIE_HTTPONLY = True
# ALLY_LOCAL_HTTP: `ally serve` on this machine over plain HTTP, where secure cookies are lost.
LOCAL_HTTP = _flag("ALLY_LOCAL_HTTP")
# Production is HTTPS only: plain HTTP is redirected and browsers are told to remember it.
# Behind a proxy that terminates HTTPS, the proxy must set X-Forwarded-Proto (docs/deploy.md).
HTTPS_ONLY = not (DEBUG or LOCAL_HTTP)
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = HTTPS_ONLY
# The __Host- prefix makes browsers refuse these cookies unless they are Secure, for path /
# and without a Domain, so no other host (a subdomain) can set or overwrite them (ASVS 3.3.1).
# Browsers refuse __Host- cookies over plain HTTP, so `ally serve` keeps Django's names.
SESSION_COOKIE_NAME = "__Host-sessionid" if HTTPS_ONLY else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if HTTPS_ONLY else "csrftoken"
# Sessions of members end after a while without a request and after a fixed time whatever
# they do (accounts/sessions.py); a client's visit (/a/) keeps its own limit, ALLY_LINK_HOURS.
ALLY_SESSION_IDLE_MINUTES = int(os.environ.get("ALLY_SESSION_IDLE_MINUTES", "30"))
ALLY_SESSION_MAX_HOURS = int(os.environ.get("ALLY_SESSION_MAX_HOURS", "12"))
# Changing the account's email, password or second factor needs the password and a code
# entered within this many minutes (ASVS 7.5.1).
ALLY_REAUTH_MINUTES = int(os.environ.get("ALLY_REAUTH_MINUTES", "5"))
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS_ONLY else 0
# Subdomains of Ally's own host name (ally.example.org), not of the practice's domain.
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
# Allows, but does not make, a submission to the browsers' preload list.
SECURE_HSTS_PRELOAD = HTTPS_ONLY
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Staff pages name only keys in their addresses; clients' pages send no referrer at all
# (respond/views.py sets no-referrer on each).
SECURE_REFERRER_POLICY = "same-origin"
# Strict CSP: scripts and styles from Ally's own static files only; nothing inline, no frames.
# Charts are SVG drawn on the server (no style attributes); QR codes are inline SVG too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        # Session recordings and their transcripts (ipr), streamed from Ally itself.
        "media-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [WEB_DIR / "locale"]
# One way to write a day and one a moment on every screen, per language (formats/).
FORMAT_MODULE_PATH = ["ally.web.formats"]
TIME_ZONE = os.environ.get("ALLY_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only for `collectstatic` behind a proxy that serves files itself; WhiteNoise needs none.
STATIC_ROOT = os.environ.get("ALLY_STATIC_ROOT") or None
STATICFILES_DIRS = [WEB_DIR / "static"]
# WhiteNoise serves the files from where they are, so `ally serve` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in: a password, then a code from an authenticator app (TOTP, RFC 6238) or one of ten
# single-use recovery codes (accounts/two_factor.py).
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked account before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
OTP_TOTP_ISSUER = "Ally"
# django-otp's own back-off (1, 2, 4 ... seconds after each wrong code) would refuse a right
# code typed soon after a wrong one; the lockout below already stops guessing: five tries at
# a one-in-a-million code.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Lockout (django-axes): failed passwords and failed codes of one account count together, per
# address: at the limit the account is locked from that address for ALLY_LOCKOUT_MINUTES after
# the last failed try (each try while locked starts the wait again, so a guesser who keeps going
# stays out), or until an administrator unlocks it on the members page. Counting per account
# and address means a stranger who knows an email cannot lock the member (or every
# administrator) out from their own desks; guessing one password from many addresses is for the
# proxy's rate limit (docs/deploy.md), and the second factor stands behind the password anyway.
AXES_FAILURE_LIMIT = int(os.environ.get("ALLY_LOCKOUT_FAILURES", "5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("ALLY_LOCKOUT_MINUTES", "15")))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
# The address as the audit log has it: behind ALLY_PROXY_COUNT trusted proxies only.
AXES_CLIENT_IP_CALLABLE = "ally.web.accounts.lockout.client_address"
# The sign-in form's field, which is also the keyword Django's authenticate() is called with.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "ally.web.accounts.lockout.locked_out"
# Sign-ins are in the audit log; axes keeps only the failures it counts.
AXES_DISABLE_ACCESS_LOG = True
# Axes keeps the failed request's form; none of these may be stored.
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "password",
    "code",
    "email",
    "new_password1",
    "new_password2",
    "csrfmiddlewaretoken",
]

# Links to clients go by email: printed to the console unless an SMTP server is configured.
EMAIL_BACKEND = os.environ.get(
    "ALLY_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("ALLY_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("ALLY_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("ALLY_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("ALLY_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = _flag("ALLY_EMAIL_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("ALLY_EMAIL_FROM", "ally@localhost")
# The address clients' links start with, e.g. https://ally.example.org (no trailing slash).
ALLY_BASE_URL = os.environ.get("ALLY_BASE_URL", "http://localhost:8000").rstrip("/")
# How long a client's link stays valid, in hours.
ALLY_LINK_HOURS = int(os.environ.get("ALLY_LINK_HOURS", "72"))
# After an episode ends, its forms (but never those of sessions after its last day) take answers
# for this many hours after the end of that day; then every form of the episode is closed.
ALLY_ENDED_GRACE_HOURS = int(os.environ.get("ALLY_ENDED_GRACE_HOURS", "48"))
# The exception (docs/data-model.md, "Endings"): a planned ending's final measures and review, and
# a follow-up check, take answers for this many days after they are sent.
ALLY_ENDING_FORM_DAYS = int(os.environ.get("ALLY_ENDING_FORM_DAYS", "14"))
ALLY_FOLLOW_UP_DAYS = int(os.environ.get("ALLY_FOLLOW_UP_DAYS", "14"))
# Off by default: after an unplanned ending nothing reaches the client unless the practice turns
# this on and the clinician ticks it at the ending (a message can be read by others).
ALLY_STOPPED_MESSAGE = _flag("ALLY_STOPPED_MESSAGE")
# Before-session links go out this many hours ahead; one reminder after this many hours.
ALLY_SEND_BEFORE_HOURS = int(os.environ.get("ALLY_SEND_BEFORE_HOURS", "24"))
ALLY_REMIND_AFTER_HOURS = int(os.environ.get("ALLY_REMIND_AFTER_HOURS", "24"))
# Dropout risk at or above which an alert is raised, once the practice model has a dropout model.
# A practice's choice, not a published threshold: set it from `ally backtest`.
ALLY_DROPOUT_ALERT = float(os.environ.get("ALLY_DROPOUT_ALERT", "0.5"))
# "Fit now" runs the fit in a thread of the server process, after the response: a large
# practice's fit takes minutes. Off (0) in tests, which fit in the request.
ALLY_FIT_IN_BACKGROUND = os.environ.get("ALLY_FIT_IN_BACKGROUND", "1") == "1"
# Trusted proxies in front of Ally (0: clients connect directly); the audit log's addresses
# are read from X-Forwarded-For only through that many proxies.
ALLY_PROXY_COUNT = int(os.environ.get("ALLY_PROXY_COUNT", "0"))
# Session recordings for Interpersonal Process Recall (docs/ipr.md): the largest upload, and the
# days they are kept by default; `ally manage delete_expired_recordings` deletes them after.
ALLY_RECORDING_MAX_MB = int(os.environ.get("ALLY_RECORDING_MAX_MB", "500"))
ALLY_RECORDING_RETENTION_DAYS = int(os.environ.get("ALLY_RECORDING_RETENTION_DAYS", "90"))

# API clients (django-oauth-toolkit): the client-credentials grant only (each Application is
# made so), secrets hashed, tokens that expire after ALLY_API_TOKEN_SECONDS (an hour by
# default; a client asks for a new one with its credentials), and each client's own scopes.
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("ALLY_API_TOKEN_SECONDS", "3600")),
    "SCOPES_BACKEND_CLASS": "ally.web.apiclients.oauth.ClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "ally.web.apiclients.oauth.ClientValidator",
    "CLIENT_SECRET_HASHER": "default",
    # Ally grants client credentials only. The OAuth 2.0 Security BCP (RFC 9700) in force:
    # no implicit or password grant, tokens only in the Authorization header, access tokens
    # stored hashed (a copied database holds no usable token), https redirects only.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# The toolkit's own models; named so that migrations can depend on them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"

# Records carry the message only: no request bodies, no SQL parameters (which hold answers).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"drop_request": {"()": "ally.web.logs.DropRequest"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["drop_request"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "ally": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
