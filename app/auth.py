"""Who may see what, and how a person proves who they are.

Three roles, each including the one before it:

* ``viewer``     — overview, model, drivers, compare, classic
* ``analyst``    — + data (upload, rename, delete, dictionary)
* ``researcher`` — + downloads

Three ways to sign in, chosen from ``st.secrets`` (see ``.streamlit/secrets.example.toml``):

* ``oidc``     — an ``[auth]`` section is configured: Streamlit's built-in ``st.login``;
  roles come from ``[roles]`` lists of e-mail addresses (everyone else is a viewer).
* ``password`` — a ``[credentials]`` section holds users with bcrypt-hashed passwords and
  their roles; this module draws the sign-in form and checks it (see below).
* ``open``     — nothing configured (local demo): everyone is a researcher and a banner says so.

The navigation registers only the pages a role may open (so a viewer cannot reach the
data page by URL) and every page that writes calls :func:`require` again before writing.

Password sign-in (``docs/DEPLOY.md`` has the threat model). streamlit-authenticator 0.4.2's own
login is not used for the decision, because its re-login cookie is a JWT ``{username, exp_date}``
with no id, so a copied cookie stays valid after sign-out until it expires, its cookie is written
by JavaScript (never HttpOnly, not Secure), an unknown user is refused without a bcrypt check
(a timing oracle), and its failed-attempt counter lives in the credentials dict rebuilt on every
run. Here instead:

* the secrets are checked first (:func:`config_problem`): a placeholder or weak ``[cookie] key``,
  a plain-text or placeholder password, or bad ``[signin]`` limits lock the app with a message;
* every password check is one bcrypt check — against a fixed dummy hash of the same cost when the
  user is unknown — behind a per-user and per-client lock-out (:class:`Throttle`);
* a sign-in gets a random id (``jti``) recorded server-side (:class:`LoginStore`); the cookie is
  a JWT ``{sub, jti, iat, exp, iss}`` signed (HS256) with the cookie key, accepted only while its
  ``jti`` is an active sign-in of this process, and sign-out revokes the ``jti``; every run of a
  signed-in session re-checks it;
* every event goes through :func:`audit` (logger ``csi.auth``), the hook for an audit log.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets as pysecrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, Mapping

Role = Literal["viewer", "analyst", "researcher"]
Mode = Literal["open", "password", "oidc"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "researcher")

PAGES: tuple[str, ...] = ("overview", "model", "drivers", "compare", "classic", "verbatims", "data", "downloads")
_ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "viewer": ("overview", "model", "drivers", "compare", "classic", "verbatims"),
    "analyst": ("overview", "model", "drivers", "compare", "classic", "verbatims", "data"),
    "researcher": PAGES,
}


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    mode: Mode
    # Brand scope: None = every brand; otherwise the only brands this user may see (issue 9, brand scopes).
    brands: tuple[str, ...] | None = None
    # With a scope: also the anonymised mean over every brand of the programme, shown as "Industry".
    industry: bool = False


REQUIRE_AUTH_ENV = "CSI_REQUIRE_AUTH"


def auth_required(environ: Mapping | None = None) -> bool:
    """``CSI_REQUIRE_AUTH`` set to 1/true/yes (the container image sets it): no configured users means no app,
    never the open demo."""
    env = os.environ if environ is None else environ
    return str(env.get(REQUIRE_AUTH_ENV, "")).strip().lower() in ("1", "true", "yes", "on")


def _brand_list(value) -> tuple[str, ...] | None:
    """A ``brands`` entry as a tuple of names; None when absent; ValueError when not a non-empty list of text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(b, str) and b.strip() for b in value):
        raise ValueError(f"brands = {value!r}")
    return tuple(dict.fromkeys(b.strip() for b in value))


def _flag(value) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"industry_aggregate = {value!r}")
    return value


def scope_of(secrets: Mapping, username: str | None = None, email: str | None = None):
    """``(brands or None, industry)`` of a password user (``[credentials.usernames.X] brands = [...]``,
    ``industry_aggregate = true``) or an OIDC e-mail (``[brand_scopes."e-mail"]`` with the same two keys).
    ValueError for a malformed entry (:func:`config_problem` refuses those before anybody signs in)."""
    if username is not None:
        entry = user_table(secrets).get(str(username).strip().lower()) or {}
    else:
        table = {str(k).strip().lower(): v for k, v in (secrets.get("brand_scopes") or {}).items()}
        entry = table.get(str(email or "").strip().lower())
        entry = {} if entry is None else entry
        if not isinstance(entry, Mapping):
            entry = {"brands": entry}
    brands = _brand_list(entry.get("brands"))
    industry = _flag(entry.get("industry_aggregate"))
    return brands, bool(industry and brands is not None)


def pages_for(role: str | None) -> tuple[str, ...]:
    """Pages a role may open, in navigation order; nothing for no or an unknown role."""
    return _ROLE_PAGES.get(role or "", ())


def can(role: str | None, page: str) -> bool:
    return page in pages_for(role)


# Pages that manage the whole programme's store (every brand's waves, uploads, dictionary, trash, audit):
# a brand-scoped user never opens them, whatever the role.
PROGRAMME_PAGES = ("data",)


def user_pages(user: "User | None") -> tuple[str, ...]:
    """The pages ``user`` may open: the role's, less the programme-wide ones for a brand-scoped user."""
    if user is None:
        return ()
    pages = pages_for(user.role)
    return pages if user.brands is None else tuple(p for p in pages if p not in PROGRAMME_PAGES)


def best_role(roles) -> Role | None:
    """The most powerful known role in ``roles`` (a list, a string or None)."""
    if roles is None:
        return None
    if isinstance(roles, str):
        roles = [roles]
    have = {str(r).strip().lower() for r in roles}
    for r in reversed(ROLES):
        if r in have:
            return r
    return None


class SecretsBroken(Exception):
    """A secrets file exists but cannot be read: the app must not fall back to 'open'."""


def auth_mode(secrets: Mapping) -> Mode:
    """Which sign-in applies, from a plain secrets mapping (see :func:`load_secrets`)."""
    if secrets.get("auth"):
        return "oidc"
    if (secrets.get("credentials") or {}).get("usernames"):
        return "password"
    return "open"


def load_secrets() -> dict:
    """``st.secrets`` as a plain dict; ``{}`` when no secrets file exists at all.

    A file that exists but does not parse raises :class:`SecretsBroken` (fail closed)."""
    import streamlit as st

    try:
        return plain(st.secrets)
    except FileNotFoundError as e:  # StreamlitSecretNotFoundError: none at all, or unreadable
        if getattr(e, "error_id", "") == "no-secrets-found" or "No secrets found" in str(e):
            return {}
        raise SecretsBroken(str(e)) from None


def role_for_email(secrets: Mapping, email: str | None) -> Role:
    """OIDC users: the role whose ``[roles]`` list contains the e-mail; viewer otherwise."""
    if not email:
        return "viewer"
    email = email.strip().lower()
    table = secrets.get("roles", {})
    for r in reversed(ROLES):
        if email in {str(e).strip().lower() for e in table.get(r, [])}:
            return r
    return "viewer"


def plain(obj):
    """A deep, mutable copy of a secrets section (never the live ``st.secrets``)."""
    if hasattr(obj, "items"):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


log = logging.getLogger("csi.auth")


# ------------------------------------------------------------------------ audit hook
AuditSink = Callable[[str, dict], None]
_AUDIT_SINKS: list[AuditSink] = []
_AUDIT_LOCK = threading.Lock()
_WARNING_EVENTS = frozenset({"login_failed", "login_refused_locked", "lockout", "cookie_rejected",
                             "config_refused"})


def register_audit_sink(sink: AuditSink) -> Callable[[], None]:
    """Also send every sign-in event to ``sink(event, fields)``; returns a function that removes it.

    This is the hook for the hosting audit log (not built yet). A sink that raises is logged and
    skipped: it never changes the outcome of a sign-in."""
    with _AUDIT_LOCK:
        _AUDIT_SINKS.append(sink)

    def remove() -> None:
        with _AUDIT_LOCK:
            if sink in _AUDIT_SINKS:
                _AUDIT_SINKS.remove(sink)
    return remove


def audit(event: str, **fields) -> None:
    """One sign-in event: logged under ``csi.auth`` (WARNING for refusals, INFO otherwise) and
    handed to every registered sink. Fields never hold a password, a hash or a token."""
    level = logging.WARNING if event in _WARNING_EVENTS else logging.INFO
    log.log(level, "%s %s", event, " ".join(f"{k}={fields[k]!r}" for k in sorted(fields)))
    with _AUDIT_LOCK:
        sinks = list(_AUDIT_SINKS)
    for sink in sinks:
        try:
            sink(event, dict(fields))
        except Exception:  # noqa: BLE001 - an audit sink must not break sign-in
            log.exception("audit sink %r failed on %s", sink, event)


# ------------------------------------------------------------------ configuration rules
MIN_KEY_LENGTH = 32
MIN_KEY_DISTINCT = 10
KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
HASH_COMMAND = "python -c \"import streamlit_authenticator as sa; print(sa.Hasher.hash('the password'))\""
EXAMPLE_COOKIE_KEY = "replace-with-a-long-random-string"  # the value shipped in secrets.example.toml
_PLACEHOLDER_WORDS = ("replace", "changeme", "change-me", "change_me", "example", "placeholder",
                      "your-", "your_", "secret-key", "secret_key")
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
MAX_EXPIRY_DAYS = 30.0
DEFAULT_EXPIRY_DAYS = 0.5


def key_problem(key) -> str | None:
    """Why a signing key is unfit, or None.

    The rule: a string of at least :data:`MIN_KEY_LENGTH` characters, with at least
    :data:`MIN_KEY_DISTINCT` different characters, that is not a repetition of a shorter string
    (``"k" * 32``, ``"abcd" * 8``) and holds no placeholder word ("replace", "example", ...).
    ``secrets.token_urlsafe(48)`` (64 characters) and ``secrets.token_hex(32)`` both pass."""
    if not isinstance(key, str) or not key:
        return "missing"
    low = key.strip().lower()
    if low == EXAMPLE_COOKIE_KEY or any(w in low for w in _PLACEHOLDER_WORDS):
        return "placeholder"
    if len(key) < MIN_KEY_LENGTH:
        return "short"
    if len(set(key)) < MIN_KEY_DISTINCT:
        return "few_distinct"
    n = len(key)
    for p in range(1, n // 2 + 1):
        if key == (key[:p] * (n // p + 1))[:n]:
            return "repeated"
    return None


def hash_problem(stored) -> str | None:
    """Why a stored password is not usable: 'missing', 'placeholder', 'argon2', 'plain'; or None.

    Only bcrypt hashes (``$2a$``/``$2b$``/``$2y$``, cost 04–31) are accepted. streamlit-authenticator
    0.4.2 would hash a plain-text password at start-up (``auto_hash=True``, its default); here a
    plain-text password is refused instead, so the secrets file never holds a password."""
    if not isinstance(stored, str) or not stored:
        return "missing"
    if "replace" in stored.lower():
        return "placeholder"
    if stored.startswith("$argon2"):
        return "argon2"
    m = _BCRYPT.match(stored)
    if m is None or not 4 <= int(m.group(1)) <= 31:
        return "plain"
    return None


@dataclass(frozen=True)
class Limits:
    """``[signin]``: lock a user name or a client out for ``lockout_minutes`` after
    ``max_attempts`` wrong passwords within that many minutes."""
    max_attempts: int = 5
    lockout_minutes: float = 15.0
    trust_proxy_headers: bool = False  # take the client address from X-Real-IP (set by the proxy)

    @property
    def window(self) -> float:
        return self.lockout_minutes * 60.0


def limits(secrets: Mapping) -> Limits:
    """The ``[signin]`` limits; ValueError for values outside 1–100 attempts and 1–1440 minutes."""
    sec = secrets.get("signin") or {}
    attempts = sec.get("max_attempts", Limits.max_attempts)
    minutes = sec.get("lockout_minutes", Limits.lockout_minutes)
    trust = sec.get("trust_proxy_headers", False)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise ValueError(f"[signin] max_attempts = {attempts!r}")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 1 <= minutes <= 1440:
        raise ValueError(f"[signin] lockout_minutes = {minutes!r}")
    if not isinstance(trust, bool):
        raise ValueError(f"[signin] trust_proxy_headers = {trust!r}")
    return Limits(int(attempts), float(minutes), trust)


@dataclass(frozen=True)
class CookieSettings:
    name: str
    key: str
    ttl: float  # seconds; 0: no re-login cookie (sign in again after every reload)
    secure: bool | None  # None: Secure when the page was opened over https


_COOKIE_KEY: list[str] = []
_COOKIE_KEY_LOCK = threading.Lock()


def _process_cookie_key() -> str:
    with _COOKIE_KEY_LOCK:
        if not _COOKIE_KEY:
            _COOKIE_KEY.append(pysecrets.token_urlsafe(48))
        return _COOKIE_KEY[0]


def cookie_settings(secrets: Mapping) -> CookieSettings:
    """The ``[cookie]`` section. Without a ``key`` the cookie is signed with a per-process random
    key (safe; cookies then end with the process, as the sign-ins do anyway)."""
    c = secrets.get("cookie") or {}
    days = c.get("expiry_days", DEFAULT_EXPIRY_DAYS)
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"[cookie] expiry_days = {days!r}")
    secure = c.get("secure", "auto")
    if secure not in (True, False, "auto"):
        raise ValueError(f"[cookie] secure = {secure!r}")
    key = c["key"] if "key" in c else _process_cookie_key()
    return CookieSettings(name=str(c.get("name") or "csi_auth"), key=key, ttl=float(days) * 86400.0,
                          secure=None if secure == "auto" else secure)


def user_table(secrets: Mapping) -> dict[str, dict]:
    """``[credentials.usernames]`` keyed by the lower-cased user name (names are case-blind)."""
    users = (secrets.get("credentials") or {}).get("usernames") or {}
    return {str(k).strip().lower(): (v if isinstance(v, Mapping) else {}) for k, v in users.items()}


def config_problem(secrets: Mapping) -> tuple[str, dict] | None:
    """Why the password sign-in must not start, as ``(i18n key, format fields)``; None when fit.

    Checked on every run before the form is drawn and before any user is recognised, so a
    weak configuration shows a message and no data."""
    cookie = secrets.get("cookie") or {}
    if "key" in cookie and key_problem(cookie.get("key")):
        return "cfg_cookie_key", {"min_len": MIN_KEY_LENGTH, "min_distinct": MIN_KEY_DISTINCT, "cmd": KEY_COMMAND}
    try:
        cookie_settings(secrets)
    except ValueError:
        return "cfg_cookie_expiry", {"max_days": int(MAX_EXPIRY_DAYS)}
    try:
        limits(secrets)
    except ValueError:
        return "cfg_signin_limits", {}
    for name, entry in user_table(secrets).items():
        why = hash_problem(entry.get("password"))
        if why == "argon2":
            return "cfg_password_argon2", {"user": name, "cmd": HASH_COMMAND}
        if why:
            return "cfg_password_hash", {"user": name, "cmd": HASH_COMMAND}
        try:
            scope_of(secrets, username=name)
        except ValueError:
            return "cfg_brand_scope", {"user": name}
    return None


def oidc_problem(secrets: Mapping) -> tuple[str, dict] | None:
    """A weak ``[auth] cookie_secret`` (it signs Streamlit's own sign-in cookie) locks the app too."""
    secret = (secrets.get("auth") or {}).get("cookie_secret")
    if secret is not None and key_problem(secret):
        return "cfg_oidc_secret", {"min_len": MIN_KEY_LENGTH, "min_distinct": MIN_KEY_DISTINCT, "cmd": KEY_COMMAND}
    for email in (secrets.get("brand_scopes") or {}):
        try:
            scope_of(secrets, email=email)
        except ValueError:
            return "cfg_brand_scope", {"user": str(email)}
    return None


# ---------------------------------------------------------------------- password check
_DUMMY: dict[int, str] = {}
_DUMMY_LOCK = threading.Lock()


def dummy_hash(cost: int) -> str:
    """A fixed bcrypt hash of a random secret at ``cost``, made once per process and cost."""
    with _DUMMY_LOCK:
        if cost not in _DUMMY:
            import bcrypt

            _DUMMY[cost] = bcrypt.hashpw(pysecrets.token_bytes(16), bcrypt.gensalt(rounds=cost)).decode()
        return _DUMMY[cost]


def dummy_cost(users: Mapping[str, Mapping]) -> int:
    """The bcrypt cost most users' hashes have (ties: the higher); 12 (bcrypt's default) for none."""
    costs: dict[int, int] = {}
    for entry in users.values():
        m = _BCRYPT.match(str(entry.get("password") or ""))
        if m:
            c = int(m.group(1))
            costs[c] = costs.get(c, 0) + 1
    return max(costs, key=lambda c: (costs[c], c)) if costs else 12


def _bcrypt_ok(password: str, stored: str) -> bool:
    import bcrypt

    try:
        return bool(bcrypt.checkpw(password.encode("utf-8"), stored.encode("ascii")))
    except ValueError:  # a password over 72 bytes (bcrypt 5), or a malformed salt
        return False


def check_password(users: Mapping[str, Mapping], username: str, password: str) -> bool:
    """Exactly one bcrypt check whether or not ``username`` exists: an unknown user (or one
    without a usable hash) is checked against :func:`dummy_hash` of the usual cost and fails."""
    entry = users.get(username)
    stored = entry.get("password") if entry else None
    if hash_problem(stored) is None:
        return _bcrypt_ok(password, stored)
    _bcrypt_ok(password, dummy_hash(dummy_cost(users)))
    return False


def _fingerprint(stored) -> str:
    """Changes when the user's hash changes (a new password ends that user's cookies)."""
    return hashlib.sha256(str(stored).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- throttle
class Throttle:
    """Failed sign-ins per key (``user:<name>``, ``client:<id>``), process-wide and thread-safe.

    ``max_attempts`` failures under one key within ``lockout_minutes`` lock that key for
    ``lockout_minutes``; while locked, attempts are refused without a password check and are not
    counted. Checks under way count against the budget (:meth:`admit`), so sessions racing on
    threads cannot get more than ``max_attempts`` checks in before the lock. A correct password
    clears its user key only: a client's failures expire on their own, so signing in to one valid
    account does not reset a client's count against others."""

    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._fails: dict[str, deque] = {}
        self._until: dict[str, float] = {}
        self._busy: dict[str, int] = {}

    def locked_for(self, keys, now: float | None = None) -> float:
        """Seconds until every one of ``keys`` is free (0: none is locked)."""
        now = self._clock() if now is None else now
        with self._lock:
            return max([self._until.get(k, 0.0) - now for k in keys] + [0.0])

    def admit(self, keys, lim: Limits, now: float | None = None) -> float:
        """0: go ahead with one password check, then call :meth:`done`. Otherwise the seconds to
        wait (a lock), or 1 while the checks already under way use up what is left."""
        now = self._clock() if now is None else now
        with self._lock:
            wait = max([self._until.get(k, 0.0) - now for k in keys] + [0.0])
            if wait > 0:
                return wait
            for k in keys:
                q = self._fails.get(k)
                while q and q[0] <= now - lim.window:
                    q.popleft()
                if (len(q) if q else 0) + self._busy.get(k, 0) >= lim.max_attempts:
                    return 1.0
            for k in keys:
                self._busy[k] = self._busy.get(k, 0) + 1
            return 0.0

    def done(self, keys, lim: Limits, ok: bool, user_key: str | None = None,
             now: float | None = None) -> list[str]:
        """The admitted check ended: on success forget ``user_key``'s failures, otherwise count
        one failure under each key. Returns the keys this failure locked."""
        now = self._clock() if now is None else now
        locked = []
        with self._lock:
            for k in keys:
                n = self._busy.get(k, 0) - 1
                if n > 0:
                    self._busy[k] = n
                else:
                    self._busy.pop(k, None)
            if ok:
                if user_key is not None:
                    self._fails.pop(user_key, None)
                return locked
            self._prune(now, lim.window)
            for k in keys:
                q = self._fails.setdefault(k, deque())
                q.append(now)
                while q and q[0] <= now - lim.window:
                    q.popleft()
                if len(q) >= lim.max_attempts:
                    self._until[k] = now + lim.window
                    del self._fails[k]
                    locked.append(k)
        return locked

    def failures(self, key: str) -> int:
        with self._lock:
            return len(self._fails.get(key, ()))

    def reset(self) -> None:
        with self._lock:
            self._fails.clear()
            self._until.clear()
            self._busy.clear()

    def _prune(self, now: float, window: float) -> None:
        # caller holds the lock; bounded memory against sprays of made-up user names
        if len(self._fails) + len(self._until) < 1024:
            return
        for k in [k for k, t in self._until.items() if t <= now]:
            del self._until[k]
        for k in [k for k, q in self._fails.items() if not q or q[-1] <= now - window]:
            del self._fails[k]
        while len(self._fails) > self.MAX_KEYS:
            self._fails.pop(next(iter(self._fails)))


THROTTLE = Throttle()


# --------------------------------------------------------------------- sign-in records
@dataclass(frozen=True)
class _Login:
    username: str
    expires: float  # wall-clock seconds, as the token's exp
    fingerprint: str


class LoginStore:
    """Active sign-ins of this process by id (``jti``), and the ids revoked by sign-out.

    A cookie is honoured only while its id is active here, so a cookie copied before sign-out, or
    kept from before a restart, is refused; a restart therefore signs everybody out."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active: dict[str, _Login] = {}
        self._revoked: dict[str, float] = {}

    def open(self, username: str, fingerprint: str, ttl: float, now: float) -> str:
        jti = pysecrets.token_urlsafe(24)
        with self._lock:
            self._purge(now)
            self._active[jti] = _Login(username, now + ttl, fingerprint)
        return jti

    def status(self, jti, now: float) -> tuple[str | None, _Login | None]:
        """(None, login) while active; otherwise ('revoked' | 'expired' | 'unknown', None)."""
        with self._lock:
            if jti in self._revoked:
                return "revoked", None
            login = self._active.get(jti)
            if login is None:
                return "unknown", None
            if login.expires <= now:
                del self._active[jti]
                return "expired", None
            return None, login

    def revoke(self, jti, now: float) -> bool:
        with self._lock:
            login = self._active.pop(jti, None)
            self._revoked[jti] = login.expires if login else now + MAX_EXPIRY_DAYS * 86400
            return login is not None

    def revoke_user(self, username: str, now: float) -> int:
        """End every sign-in of a user (e.g. after a password change); how many were active."""
        with self._lock:
            ids = [j for j, l in self._active.items() if l.username == username]
            for j in ids:
                self._revoked[j] = self._active.pop(j).expires
            return len(ids)

    def reset(self) -> None:
        with self._lock:
            self._active.clear()
            self._revoked.clear()

    def _purge(self, now: float) -> None:
        for j in [j for j, l in self._active.items() if l.expires <= now]:
            del self._active[j]
        for j in [j for j, t in self._revoked.items() if t <= now]:
            del self._revoked[j]


LOGINS = LoginStore()
SESSION_TTL_NO_COOKIE = 12 * 3600.0  # how long a sign-in lasts when expiry_days = 0 (no cookie)
TOKEN_ISSUER = "csi-dashboard"


def issue_token(key: str, username: str, jti: str, now: float, ttl: float) -> str:
    import jwt

    return jwt.encode({"sub": username, "jti": jti, "iat": int(now), "exp": int(now + ttl),
                       "iss": TOKEN_ISSUER}, key, algorithm="HS256")


@dataclass(frozen=True)
class TokenCheck:
    username: str | None
    jti: str | None
    reason: str | None  # None: accepted


def check_token(secrets: Mapping, token: str | None, now: float | None = None) -> TokenCheck:
    """Accept a re-login cookie only if it is an HS256 JWT signed with the cookie key, not expired,
    for a known user whose hash has not changed since, and its ``jti`` is an active sign-in."""
    import jwt

    now = time.time() if now is None else now
    if not token:
        return TokenCheck(None, None, "missing")
    try:
        claims = jwt.decode(token, cookie_settings(secrets).key, algorithms=["HS256"], issuer=TOKEN_ISSUER,
                            options={"require": ["sub", "jti", "iat", "exp", "iss"], "verify_exp": False,
                                     "verify_iat": False})
    except jwt.InvalidSignatureError:
        return TokenCheck(None, None, "bad_signature")
    except (jwt.PyJWTError, ValueError):
        return TokenCheck(None, None, "malformed")
    sub, jti = claims.get("sub"), claims.get("jti")
    if not isinstance(sub, str) or not isinstance(jti, str) or not isinstance(claims.get("exp"), (int, float)):
        return TokenCheck(None, None, "malformed")
    if claims["exp"] <= now:
        return TokenCheck(sub, jti, "expired")
    reason, login = LOGINS.status(jti, now)
    if reason:
        return TokenCheck(sub, jti, reason)
    entry = user_table(secrets).get(sub)
    if login.username != sub or entry is None:
        return TokenCheck(sub, jti, "unknown_user")
    if _fingerprint(entry.get("password")) != login.fingerprint:
        return TokenCheck(sub, jti, "password_changed")
    return TokenCheck(sub, jti, None)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    username: str
    locked_seconds: float = 0.0
    jti: str | None = None
    token: str | None = None


def attempt_login(secrets: Mapping, username: str, password: str, client: str,
                  now: float | None = None, wall: float | None = None) -> Attempt:
    """One press of the sign-in button, without Streamlit: lock-out check, one bcrypt check,
    counting, and on success a new sign-in record and its signed token."""
    lim = limits(secrets)
    name = (username or "").strip().lower()
    user_key = f"user:{name}"
    keys = [user_key, f"client:{client}"]
    wait = THROTTLE.admit(keys, lim, now)
    if wait > 0:
        audit("login_refused_locked", user=name, client=client, seconds=round(wait))
        return Attempt(False, name, locked_seconds=wait)
    users = user_table(secrets)
    known = name in users
    ok = False
    try:
        ok = check_password(users, name, password or "")
    finally:
        newly = THROTTLE.done(keys, lim, ok, user_key, now)
    if not ok:
        audit("login_failed", user=name, known=known, client=client)
        for k in newly:
            audit("lockout", key=k, minutes=lim.lockout_minutes)
        return Attempt(False, name, locked_seconds=THROTTLE.locked_for(keys, now))
    if best_role(users[name].get("roles")) is None:
        audit("login_no_role", user=name, client=client)
        return Attempt(False, name)
    wall = time.time() if wall is None else wall
    cs = cookie_settings(secrets)
    jti = LOGINS.open(name, _fingerprint(users[name].get("password")), cs.ttl or SESSION_TTL_NO_COOKIE, wall)
    audit("login_ok", user=name, client=client, jti=jti[:8])
    return Attempt(True, name, jti=jti, token=issue_token(cs.key, name, jti, wall, cs.ttl) if cs.ttl else None)


def sign_out(jti: str | None, username: str | None = None, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if jti:
        LOGINS.revoke(jti, now)
    audit("logout", user=username, jti=(jti or "")[:8])


# --------------------------------------------------------------- streamlit side
_SESSION_KEYS = ("authentication_status", "username", "name", "csi_login_jti")


def _session_id() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else "none"
    except Exception:  # noqa: BLE001
        return "none"


def client_id(lim: Limits) -> str:
    """Who is knocking: the proxy's X-Real-IP when ``trust_proxy_headers``, else the socket's
    address, else (loopback, or no address) this browser session."""
    import streamlit as st

    try:
        if lim.trust_proxy_headers:
            real = st.context.headers.get("X-Real-IP")
            if isinstance(real, str) and real.strip():
                return f"ip:{real.strip()}"
        ip = st.context.ip_address
        if isinstance(ip, str) and ip:
            return f"ip:{ip}"
    except Exception:  # noqa: BLE001 - no request context (tests, bare mode)
        pass
    return f"session:{_session_id()}"


def _request_cookie(name: str) -> str | None:
    import streamlit as st

    try:
        value = st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no request context
        return None
    return value if isinstance(value, str) and value else None


def _page_is_https() -> bool:
    import streamlit as st

    try:
        url = st.context.url
        proto = st.context.headers.get("X-Forwarded-Proto")
    except Exception:  # noqa: BLE001
        return False
    return (isinstance(url, str) and url.lower().startswith("https://")) or (
        isinstance(proto, str) and proto.strip().lower() == "https")


def _write_cookie(cs: CookieSettings, value: str, ttl: float) -> None:
    """The browser stores the cookie through a component (JavaScript): HttpOnly is impossible
    there, so the cookie is short-lived, SameSite=Strict, Secure over https, and worthless once
    its sign-in ends (see :class:`LoginStore`)."""
    import datetime

    try:
        import extra_streamlit_components as stx
    except ImportError:  # no re-login cookie: people sign in again after a reload
        return
    secure = _page_is_https() if cs.secure is None else cs.secure
    when = datetime.datetime.now() + datetime.timedelta(seconds=ttl)
    stx.CookieManager(key="csi_cookie_mgr").set(
        cs.name, value, key="csi_cookie_set", path="/", expires_at=when, max_age=max(ttl, 0) or None,
        secure=secure, same_site="strict")


def _clear_session() -> None:
    import streamlit as st

    for k in _SESSION_KEYS:
        st.session_state[k] = None


def _session_login_ok(secrets: Mapping) -> bool:
    """A signed-in session stays signed in only while its sign-in record is active (sign-out in
    another tab, expiry or a password change end it on the next run)."""
    import streamlit as st

    jti = st.session_state.get("csi_login_jti")
    if not jti:
        return True  # signed in by server-side code only (never by a client)
    reason, login = LOGINS.status(jti, time.time())
    if reason:
        return False
    entry = user_table(secrets).get(login.username)
    return entry is not None and _fingerprint(entry.get("password")) == login.fingerprint


def current_user() -> User | None:
    """The signed-in user from the source of truth (this module's session record or
    ``st.user``), recomputed on every call so a page can re-check before it writes. A
    configuration that :func:`config_problem` refuses has no user."""
    import streamlit as st

    secrets = load_secrets()
    mode = auth_mode(secrets)
    if mode == "open":
        return None if auth_required() else User(name="demo", role="researcher", mode="open")
    if mode == "oidc":
        if oidc_problem(secrets) or not getattr(st.user, "is_logged_in", False):
            return None
        email = st.user.get("email")
        brands, industry = scope_of(secrets, email=email)
        return User(name=str(st.user.get("name") or email or "user"), role=role_for_email(secrets, email),
                    mode="oidc", brands=brands, industry=industry)
    if config_problem(secrets) or not st.session_state.get("authentication_status"):
        return None
    username = str(st.session_state.get("username") or "").strip().lower()
    # Roles come from the secrets file, not from anything the session could have changed.
    users = user_table(secrets)
    role = best_role(users[username].get("roles")) if username in users else None
    if role is None or not _session_login_ok(secrets):
        return None
    brands, industry = scope_of(secrets, username=username)
    return User(name=str(st.session_state.get("name") or username), role=role, mode="password", brands=brands,
                industry=industry)


def require(page: str, lang: str = "en") -> User:
    """Stop the page unless the current user's role may open ``page``."""
    import streamlit as st

    from .i18n import t

    user = current_user()
    if user is None or page not in user_pages(user):
        role = t(f"role_{user.role}", lang) if user else "-"
        st.error(t("not_allowed", lang, role=role))
        st.stop()
    return user


def _refuse_config(problem: tuple[str, dict], lang: str) -> None:
    import streamlit as st

    from .i18n import t

    key, fmt = problem
    if st.session_state.get("csi_cfg_logged") != key:
        st.session_state["csi_cfg_logged"] = key
        audit("config_refused", problem=key, user=fmt.get("user"))
    st.error(t(key, lang, **fmt))


def _display_name(entry: Mapping, username: str) -> str:
    full = f"{entry.get('first_name') or ''} {entry.get('last_name') or ''}".strip()
    return str(entry.get("name") or full or username)


def sign_in(lang: str = "en") -> User | None:
    """Draw the sign-in widgets when needed and return the user once signed in."""
    import streamlit as st

    from .i18n import t

    try:
        secrets = load_secrets()
    except SecretsBroken as e:  # the parse error names the file's path: it goes to the server log only
        from csi.errors import log_incident

        st.error(t("secrets_broken", lang, incident=log_incident(f"secrets file unreadable: {e}")))
        return None
    mode = auth_mode(secrets)
    if mode == "open":
        if auth_required():  # hosted (the image sets it) but nobody configured: fail closed
            _refuse_config(("cfg_auth_required", {"env": REQUIRE_AUTH_ENV}), lang)
            return None
        return current_user()
    if mode == "oidc":
        problem = oidc_problem(secrets)
        if problem:
            _refuse_config(problem, lang)
            return None
        if not getattr(st.user, "is_logged_in", False):
            st.info(t("login_prompt", lang))
            if st.button(t("login_oidc", lang), type="primary"):
                provider = secrets["auth"].get("provider")
                st.login(provider) if provider else st.login()
            return None
        user = current_user()
        if st.sidebar.button(t("logout", lang), key="csi_logout"):
            st.logout()
        return user

    problem = config_problem(secrets)
    if problem:
        _refuse_config(problem, lang)
        return None
    users = user_table(secrets)
    dummy_hash(dummy_cost(users))  # made before the first attempt, so it never adds to one
    cs = cookie_settings(secrets)

    # A session that was signed in but whose sign-in ended elsewhere starts over.
    if st.session_state.get("authentication_status") and current_user() is None:
        _clear_session()
    # A new browser session may bring a re-login cookie.
    if not st.session_state.get("authentication_status") and cs.ttl:
        token = _request_cookie(cs.name)
        if token:
            seen = hashlib.sha256(token.encode()).hexdigest()[:16]
            check = check_token(secrets, token)
            if check.reason is None:
                entry = users[check.username]
                st.session_state.update({"authentication_status": True, "username": check.username,
                                         "name": _display_name(entry, check.username),
                                         "csi_login_jti": check.jti})
                audit("cookie_login", user=check.username, jti=check.jti[:8])
            elif st.session_state.get("csi_cookie_seen") != seen:
                st.session_state["csi_cookie_seen"] = seen  # log each refused cookie once per session
                audit("cookie_rejected", reason=check.reason, user=check.username,
                      client=client_id(limits(secrets)))

    user = current_user()
    if user is not None:
        if not st.sidebar.button(t("logout", lang), key="csi_logout"):
            return user
        sign_out(st.session_state.get("csi_login_jti"), user.name)
        _clear_session()
        if cs.ttl:
            _write_cookie(cs, "", 0)  # ask the browser to drop it; the server refuses it anyway

    box = st.empty()
    with box.form("csi_login"):
        st.subheader(t("login_title", lang))
        username = st.text_input(t("username", lang), autocomplete="username")
        password = st.text_input(t("password", lang), type="password", autocomplete="current-password")
        pressed = st.form_submit_button(t("login", lang))
    if pressed and (username or "").strip():
        lim = limits(secrets)
        result = attempt_login(secrets, username, password, client_id(lim))
        if result.ok:
            box.empty()
            entry = users[result.username]
            st.session_state.update({"authentication_status": True, "username": result.username,
                                     "name": _display_name(entry, result.username),
                                     "csi_login_jti": result.jti})
            if result.token:
                _write_cookie(cs, result.token, cs.ttl)
            st.sidebar.button(t("logout", lang), key="csi_logout")  # pressed: handled on the next run
            return current_user()
        st.session_state["authentication_status"] = False
        if result.locked_seconds > 0:
            st.error(t("login_locked", lang, minutes=max(1, int(-(-result.locked_seconds // 60)))))
        else:
            st.error(t("login_failed", lang))
        return None
    st.info(t("login_prompt", lang))
    return None
