"""Who may see what.

Three roles, each including the one before it:

* ``viewer``     — overview, model, drivers, compare, classic
* ``analyst``    — + data (upload, rename, delete, dictionary)
* ``researcher`` — + downloads

Three ways to sign in, chosen from ``st.secrets`` (see ``.streamlit/secrets.example.toml``):

* ``oidc``     — an ``[auth]`` section is configured: Streamlit's built-in ``st.login``;
  roles come from ``[roles]`` lists of e-mail addresses (everyone else is a viewer).
* ``password`` — a ``[credentials]`` section holds users with bcrypt-hashed passwords and
  their roles; streamlit-authenticator draws the login form.
* ``open``     — nothing configured (local demo): everyone is a researcher and a banner says so.

The navigation registers only the pages a role may open (so a viewer cannot reach the
data page by URL) and every page that writes calls :func:`require` again before writing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

Role = Literal["viewer", "analyst", "researcher"]
Mode = Literal["open", "password", "oidc"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "researcher")

PAGES: tuple[str, ...] = ("overview", "model", "drivers", "compare", "classic", "data", "downloads")
_ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "viewer": ("overview", "model", "drivers", "compare", "classic"),
    "analyst": ("overview", "model", "drivers", "compare", "classic", "data"),
    "researcher": PAGES,
}


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    mode: Mode


def pages_for(role: str | None) -> tuple[str, ...]:
    """Pages a role may open, in navigation order; nothing for no or an unknown role."""
    return _ROLE_PAGES.get(role or "", ())


def can(role: str | None, page: str) -> bool:
    return page in pages_for(role)


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
    """A deep, mutable copy of a secrets section (streamlit-authenticator writes into it)."""
    if hasattr(obj, "items"):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


_COOKIE_KEY: list[str] = []


def _process_cookie_key() -> str:
    import secrets as pysecrets

    if not _COOKIE_KEY:
        _COOKIE_KEY.append(pysecrets.token_hex(32))
    return _COOKIE_KEY[0]


# --------------------------------------------------------------- streamlit side
def current_user() -> User | None:
    """The signed-in user from the source of truth (session state of the login library or
    ``st.user``), recomputed on every call so a page can re-check before it writes."""
    import streamlit as st

    secrets = load_secrets()
    mode = auth_mode(secrets)
    if mode == "open":
        return User(name="demo", role="researcher", mode="open")
    if mode == "oidc":
        if not getattr(st.user, "is_logged_in", False):
            return None
        email = st.user.get("email")
        return User(name=str(st.user.get("name") or email or "user"), role=role_for_email(secrets, email),
                    mode="oidc")
    if not st.session_state.get("authentication_status"):
        return None
    username = st.session_state.get("username")
    # Roles come from the secrets file, not from anything the session could have changed.
    users = secrets["credentials"]["usernames"]
    role = best_role(users.get(username, {}).get("roles")) if username in users else None
    if role is None:
        return None
    return User(name=str(st.session_state.get("name") or username), role=role, mode="password")


def require(page: str, lang: str = "en") -> User:
    """Stop the page unless the current user's role may open ``page``."""
    import streamlit as st

    from .i18n import t

    user = current_user()
    if user is None or not can(user.role, page):
        role = t(f"role_{user.role}", lang) if user else "-"
        st.error(t("not_allowed", lang, role=role))
        st.stop()
    return user


def sign_in(lang: str = "en") -> User | None:
    """Draw the sign-in widgets when needed and return the user once signed in."""
    import streamlit as st

    from .i18n import t

    try:
        secrets = load_secrets()
    except SecretsBroken as e:
        st.error(t("secrets_broken", lang, msg=str(e)))
        return None
    mode = auth_mode(secrets)
    if mode == "open":
        return current_user()
    if mode == "oidc":
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

    import streamlit_authenticator as stauth

    cookie = secrets.get("cookie", {})
    authenticator = stauth.Authenticate(
        secrets["credentials"],
        cookie.get("name", "csi_auth"),
        # Without a configured key the re-login cookie is signed with a per-process secret:
        # safe, but users sign in again after a restart.
        cookie.get("key") or _process_cookie_key(),
        float(cookie.get("expiry_days", 1)),
        auto_hash=False,  # the secrets file holds bcrypt hashes only
    )
    if not st.session_state.get("authentication_status"):
        authenticator.login(location="main", fields={
            "Form name": t("login_title", lang), "Username": t("username", lang),
            "Password": t("password", lang), "Login": t("login", lang)})
        if st.session_state.get("authentication_status") is False:
            st.error(t("login_failed", lang))
    user = current_user()
    if user is None:
        if st.session_state.get("authentication_status") is None:
            st.info(t("login_prompt", lang))
        return None
    authenticator.logout(t("logout", lang), location="sidebar", key="csi_logout")
    return current_user()
