"""Sign-in security (app/auth.py): configuration refusals, unforgeable and revocable re-login
cookies, throttling with lock-out, one bcrypt check per attempt whether or not the user exists,
hashes only, and the reverse proxy's security headers (deploy/nginx.conf).

No timing: counts of bcrypt calls, injected clocks, and the server-side sign-in records."""
from __future__ import annotations

import logging
import random
import re
import shutil
import subprocess
import threading
import tomllib
from pathlib import Path

import bcrypt
import jwt
import pytest

from app import auth
from app.i18n import t

ROOT = Path(__file__).resolve().parents[1]
STRONG_KEY = "csi-test-cookie-key-9Qf2LmX7vR4nT8wZ"
OTHER_KEY = "a-different-key-Zx81Qw73Er65Ty49Ui27"
USERS = {"vera": "viewer", "anna": "analyst", "rex": "researcher"}
_HASHES = {u: bcrypt.hashpw(f"pw-{u}".encode(), bcrypt.gensalt(rounds=4)).decode() for u in USERS}


def _secrets(key: str | None = STRONG_KEY, **extra) -> dict:
    cookie = {"name": "csi_test", "expiry_days": 1}
    if key is not None:
        cookie["key"] = key
    s = {"cookie": cookie,
         "credentials": {"usernames": {u: {"email": f"{u}@example.com", "first_name": u, "last_name": "T",
                                           "password": _HASHES[u], "roles": [r]} for u, r in USERS.items()}}}
    s.update(extra)
    return s


@pytest.fixture(autouse=True)
def _fresh_stores():
    auth.THROTTLE.reset()
    auth.LOGINS.reset()
    yield
    auth.THROTTLE.reset()
    auth.LOGINS.reset()


@pytest.fixture()
def bcrypt_calls(monkeypatch):
    """Every bcrypt.checkpw call (password, hash) — a spy, the real check still runs."""
    calls = []
    lock = threading.Lock()
    real = bcrypt.checkpw

    def spy(pw, hashed):
        with lock:
            calls.append(hashed.decode())
        return real(pw, hashed)
    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return calls


# ------------------------------------------------------------------ 1. cookie key rule
@pytest.mark.parametrize("key,why", [
    ("replace-with-a-long-random-string", "placeholder"),  # the example file's value
    ("k" * 32, "few_distinct"),
    ("abcdefghij" * 4, "repeated"),
    ("abcdefghijklmnopqrstuvwxyz01234", "short"),  # 31 characters
    ("please-change-me-before-going-live-0123456789", "placeholder"),
    ("", "missing"),
    (None, "missing"),
    ("0123456789abcdef" * 2 + "x", None),  # 33 characters, 17 distinct, not periodic
    (STRONG_KEY, None),
])
def test_key_rule(key, why):
    assert auth.key_problem(key) == why


def test_generated_keys_pass_the_rule():
    rng = random.Random(20240601)
    urlsafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for _ in range(500):  # what token_urlsafe(48) and token_hex(32) produce
        assert auth.key_problem("".join(rng.choice(urlsafe) for _ in range(64))) is None
        assert auth.key_problem("".join(rng.choice("0123456789abcdef") for _ in range(64))) is None


def test_example_secrets_file_is_refused_until_edited():
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.example.toml").read_text(encoding="utf-8"))
    assert auth.auth_mode(example) == "password"
    key, fmt = auth.config_problem(example)
    assert key == "cfg_cookie_key" and fmt["cmd"] == 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
    example["cookie"]["key"] = STRONG_KEY
    assert auth.config_problem(example)[0] == "cfg_password_hash"  # its hashes are placeholders
    for u in example["credentials"]["usernames"].values():
        u["password"] = _HASHES["vera"]
    assert auth.config_problem(example) is None
    assert auth.limits(example) == auth.Limits(5, 15.0, False)  # the documented defaults


def test_no_key_uses_a_strong_process_key():
    cs = auth.cookie_settings(_secrets(key=None))
    assert auth.config_problem(_secrets(key=None)) is None and auth.key_problem(cs.key) is None
    assert auth.cookie_settings(_secrets(key=None)).key == cs.key  # one per process


# ----------------------------------------------------------------- 5. hashes only
@pytest.mark.parametrize("stored,why", [
    ("pw-anna", "plain"),
    ("$2b$12$REPLACE.WITH.A.BCRYPT.HASH..................................", "placeholder"),
    ("$2b$12$tooshort", "plain"),
    ("$2b$03$" + "a" * 53, "plain"),  # cost below bcrypt's minimum
    ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "argon2"),
    ("", "missing"),
    (None, "missing"),
])
def test_hash_problem(stored, why):
    assert auth.hash_problem(stored) == why


def test_plain_text_password_is_refused_not_hashed():
    s = _secrets()
    s["credentials"]["usernames"]["anna"]["password"] = "pw-anna"
    key, fmt = auth.config_problem(s)
    assert key == "cfg_password_hash" and fmt["user"] == "anna"
    assert s["credentials"]["usernames"]["anna"]["password"] == "pw-anna"  # nothing was hashed in place
    s["credentials"]["usernames"]["anna"]["password"] = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    assert auth.config_problem(s)[0] == "cfg_password_argon2"


@pytest.mark.parametrize("signin,ok", [
    ({"max_attempts": 3, "lockout_minutes": 1}, True),
    ({"max_attempts": 0}, False), ({"max_attempts": "5"}, False), ({"max_attempts": True}, False),
    ({"lockout_minutes": 0.5}, False), ({"trust_proxy_headers": "yes"}, False),
])
def test_signin_limits_are_validated(signin, ok):
    problem = auth.config_problem(_secrets(signin=signin))
    assert (problem is None) == ok
    if not ok:
        assert problem[0] == "cfg_signin_limits"


@pytest.mark.parametrize("days,ok", [(0, True), (0.25, True), (30, True), (31, False), (-1, False), ("1", False)])
def test_cookie_expiry_is_validated(days, ok):
    s = _secrets()
    s["cookie"]["expiry_days"] = days
    assert (auth.config_problem(s) is None) == ok


def test_weak_oidc_cookie_secret_is_refused():
    assert auth.oidc_problem({"auth": {"cookie_secret": "replace-with-a-long-random-string"}})[0] == "cfg_oidc_secret"
    assert auth.oidc_problem({"auth": {"cookie_secret": STRONG_KEY}}) is None


# ----------------------------------------------- 4. one bcrypt check, known user or not
def test_unknown_user_costs_one_bcrypt_check_of_the_same_cost(bcrypt_calls):
    s = _secrets()
    auth.dummy_hash(auth.dummy_cost(auth.user_table(s)))  # sign_in makes it before any attempt
    assert not auth.attempt_login(s, "anna", "wrong", "client:a").ok
    assert not auth.attempt_login(s, "nobody", "wrong", "client:a").ok
    assert not auth.attempt_login(s, "nobody", "pw-anna", "client:a").ok  # a real password of another user
    assert auth.attempt_login(s, "anna", "pw-anna", "client:a").ok
    assert len(bcrypt_calls) == 4
    known, unknown, unknown2, good = bcrypt_calls
    assert known == _HASHES["anna"] and good == _HASHES["anna"]
    assert unknown == unknown2 == auth.dummy_hash(4)  # one fixed dummy
    assert unknown[:7] == known[:7] == "$2b$04$"  # same scheme and cost


def test_dummy_cost_follows_the_users(monkeypatch):
    users = {"a": {"password": "$2b$12$" + "a" * 53}, "b": {"password": "$2b$12$" + "b" * 53},
             "c": {"password": "$2b$10$" + "c" * 53}}
    assert auth.dummy_cost(users) == 12
    assert auth.dummy_cost({}) == 12


def test_dummy_hash_is_made_once(monkeypatch):
    made = []
    real = bcrypt.hashpw
    monkeypatch.setattr(bcrypt, "hashpw", lambda pw, salt: made.append(salt) or real(pw, salt))
    monkeypatch.setattr(auth, "_DUMMY", {})
    h = auth.dummy_hash(5)
    assert auth.dummy_hash(5) == h and len(made) == 1 and h.startswith("$2b$05$")


def test_over_long_password_is_a_failure_not_a_crash(bcrypt_calls):
    assert not auth.attempt_login(_secrets(), "anna", "x" * 100, "client:a").ok
    assert not auth.attempt_login(_secrets(), "nobody", "x" * 100, "client:a").ok
    assert len(bcrypt_calls) == 2


# --------------------------------------------------------------- 3. throttling
def test_user_locked_after_max_attempts_then_free_again(bcrypt_calls):
    s = _secrets(signin={"max_attempts": 3, "lockout_minutes": 10})
    for i in range(3):
        r = auth.attempt_login(s, "anna", "wrong", f"client:{i}", now=100.0 + i)  # three different clients
        assert not r.ok
    assert r.locked_seconds == pytest.approx(600.0)
    n = len(bcrypt_calls)
    r = auth.attempt_login(s, "anna", "pw-anna", "client:9", now=200.0)  # even the right password
    assert not r.ok and r.locked_seconds > 0 and len(bcrypt_calls) == n  # refused without a check
    assert auth.attempt_login(s, "vera", "pw-vera", "client:9", now=200.0).ok  # other users unaffected
    assert auth.attempt_login(s, "anna", "pw-anna", "client:9", now=102.0 + 600.0).ok


def test_client_locked_across_user_names():
    s = _secrets(signin={"max_attempts": 4, "lockout_minutes": 5})
    for name in ("anna", "vera", "rex", "nobody"):
        auth.attempt_login(s, name, "guess", "ip:203.0.113.7", now=10.0)
    r = auth.attempt_login(s, "carol", "guess", "ip:203.0.113.7", now=11.0)
    assert r.locked_seconds > 0
    assert not auth.attempt_login(s, "vera", "pw-vera", "ip:203.0.113.7", now=11.0).ok
    assert auth.attempt_login(s, "vera", "pw-vera", "ip:198.51.100.1", now=11.0).ok  # another client


def test_success_clears_the_user_not_the_client():
    s = _secrets(signin={"max_attempts": 3, "lockout_minutes": 5})
    auth.attempt_login(s, "anna", "wrong", "ip:x", now=1.0)
    auth.attempt_login(s, "anna", "wrong", "ip:x", now=2.0)
    assert auth.THROTTLE.failures("user:anna") == 2 and auth.THROTTLE.failures("client:ip:x") == 2
    assert auth.attempt_login(s, "anna", "pw-anna", "ip:x", now=3.0).ok
    assert auth.THROTTLE.failures("user:anna") == 0 and auth.THROTTLE.failures("client:ip:x") == 2


def test_old_failures_expire():
    s = _secrets(signin={"max_attempts": 2, "lockout_minutes": 1})
    auth.attempt_login(s, "anna", "wrong", "client:x", now=0.0)
    r = auth.attempt_login(s, "anna", "wrong", "client:x", now=61.0)  # the first is out of the window
    assert r.locked_seconds == 0 and auth.THROTTLE.failures("user:anna") == 1


def test_usernames_are_case_blind_for_the_lock():
    s = _secrets(signin={"max_attempts": 2, "lockout_minutes": 5})
    auth.attempt_login(s, "Anna", "wrong", "client:1", now=0.0)
    auth.attempt_login(s, " ANNA ", "wrong", "client:2", now=0.0)
    assert auth.attempt_login(s, "anna", "pw-anna", "client:3", now=1.0).locked_seconds > 0


def test_racing_threads_get_no_more_checks_than_allowed(monkeypatch):
    """16 sessions press the button at once. Each password check is held until every thread has
    either reached its check or been refused, so all admitted checks are under way together:
    a throttle that counted only finished checks would let all 16 in."""
    s = _secrets(signin={"max_attempts": 5, "lockout_minutes": 5})
    n = 16
    cond = threading.Condition()
    arrived = [0]
    checks = []
    local = threading.local()
    real = bcrypt.checkpw

    def arrive():
        with cond:
            arrived[0] += 1
            cond.notify_all()

    def held_check(pw, hashed):
        local.checked = True
        arrive()
        with cond:
            cond.wait_for(lambda: arrived[0] >= n, timeout=30)  # a safety net, not a timing
            checks.append(1)
        return real(pw, hashed)
    monkeypatch.setattr(bcrypt, "checkpw", held_check)
    start = threading.Barrier(n)
    results = []

    def knock(i):
        start.wait()
        r = auth.attempt_login(s, "anna", f"guess{i}", f"ip:{i}", now=50.0)
        if not getattr(local, "checked", False):
            arrive()  # refused without a check
        results.append(r)
    threads = [threading.Thread(target=knock, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == n and not any(r.ok for r in results)
    assert len(checks) == 5  # exactly the budget, all at once
    assert auth.THROTTLE.locked_for(["user:anna"], now=50.0) > 0  # and their failures locked the user
    arrived[0] = n  # no more holding
    assert auth.attempt_login(s, "anna", "pw-anna", "ip:z", now=51.0).locked_seconds > 0
    assert len(checks) == 5


def test_client_is_the_proxy_address_only_when_trusted(monkeypatch):
    import streamlit as st

    class FakeContext:
        headers = {"X-Real-IP": "203.0.113.9"}
        ip_address = "192.0.2.1"
    monkeypatch.setattr(st, "context", FakeContext())
    assert auth.client_id(auth.Limits(trust_proxy_headers=True)) == "ip:203.0.113.9"
    assert auth.client_id(auth.Limits(trust_proxy_headers=False)) == "ip:192.0.2.1"  # a client's own header ignored
    FakeContext.ip_address = None  # loopback (behind the proxy) without trust: the browser session
    assert auth.client_id(auth.Limits()).startswith("session:")


def test_events_are_logged_and_reach_the_audit_hook(caplog):
    seen = []
    remove = auth.register_audit_sink(lambda event, fields: seen.append((event, fields)))
    remove_broken = auth.register_audit_sink(lambda event, fields: 1 / 0)  # must not break sign-in
    try:
        s = _secrets(signin={"max_attempts": 2, "lockout_minutes": 5})
        with caplog.at_level(logging.INFO, logger="csi.auth"):
            auth.attempt_login(s, "anna", "secret-guess-1", "client:q", now=0.0)
            auth.attempt_login(s, "anna", "secret-guess-2", "client:q", now=0.0)
            auth.attempt_login(s, "anna", "pw-anna", "client:q", now=0.0)
            assert auth.attempt_login(s, "vera", "pw-vera", "client:r", now=0.0).ok
    finally:
        remove()
        remove_broken()
    events = [e for e, _ in seen]
    assert events == ["login_failed", "login_failed", "lockout", "lockout", "login_refused_locked", "login_ok"]
    assert seen[0][1] == {"user": "anna", "known": True, "client": "client:q"}
    mine = [r for r in caplog.records if r.name == "csi.auth"]
    assert {r.levelno for r in mine if r.getMessage().startswith(("login_failed", "lockout"))} == {logging.WARNING}
    assert {r.levelno for r in mine if r.getMessage().startswith("login_ok")} == {logging.INFO}
    text = "\n".join(r.getMessage() for r in mine)
    assert "secret-guess" not in text and "pw-" not in text and "$2b$" not in text
    assert any("audit sink" in r.getMessage() for r in mine)  # the broken sink was reported
    assert logging.getLogger("csi.auth").handlers == []  # no handlers added


# ----------------------------------------------------- 2. forged and replayed cookies
def _login_token(s, user="anna"):
    r = auth.attempt_login(s, user, f"pw-{user}", "client:t")
    assert r.ok and r.token
    return r


def test_issued_token_is_accepted_and_carries_an_id():
    s = _secrets()
    r = _login_token(s)
    claims = jwt.decode(r.token, STRONG_KEY, algorithms=["HS256"], issuer=auth.TOKEN_ISSUER)
    assert claims["sub"] == "anna" and claims["jti"] == r.jti and claims["exp"] - claims["iat"] == 86400
    assert auth.check_token(s, r.token) == auth.TokenCheck("anna", r.jti, None)


def test_token_signed_with_another_key_is_refused():
    s = _secrets()
    r = _login_token(s)
    claims = jwt.decode(r.token, STRONG_KEY, algorithms=["HS256"])
    forged = jwt.encode({**claims, "sub": "rex"}, OTHER_KEY, algorithm="HS256")  # even with a live jti
    assert auth.check_token(s, forged).reason == "bad_signature"
    example = jwt.encode(claims, "replace-with-a-long-random-string", algorithm="HS256")
    assert auth.check_token(s, example).reason == "bad_signature"


def test_unsigned_and_library_style_tokens_are_refused():
    s = _secrets()
    r = _login_token(s)
    claims = jwt.decode(r.token, STRONG_KEY, algorithms=["HS256"])
    assert auth.check_token(s, jwt.encode(claims, None, algorithm="none")).reason == "malformed"
    # streamlit-authenticator 0.4.2's own cookie: {username, exp_date}, no id. Refused even when
    # signed with the right key (anyone who had the example key could mint these).
    lib = jwt.encode({"username": "rex", "exp_date": 4e9}, STRONG_KEY, algorithm="HS256")
    assert auth.check_token(s, lib).reason == "malformed"
    assert auth.check_token(s, "not.a.token").reason == "malformed"


def test_well_signed_token_without_a_server_side_sign_in_is_refused():
    s = _secrets()
    now = 1_800_000_000
    minted = jwt.encode({"sub": "rex", "jti": "never-issued", "iat": now, "exp": now + 3600,
                         "iss": auth.TOKEN_ISSUER}, STRONG_KEY, algorithm="HS256")
    assert auth.check_token(s, minted, now=now + 1).reason == "unknown"  # e.g. from before a restart


def test_token_replayed_after_sign_out_is_refused():
    s = _secrets()
    r = _login_token(s)
    auth.sign_out(r.jti, "anna")
    assert auth.check_token(s, r.token).reason == "revoked"
    r2 = _login_token(s)  # signing in again issues a new id; the old token stays dead
    assert r2.jti != r.jti and auth.check_token(s, r.token).reason == "revoked"
    assert auth.check_token(s, r2.token).reason is None


def test_expired_token_and_changed_password_are_refused():
    s = _secrets()
    r = auth.attempt_login(s, "anna", "pw-anna", "client:t", wall=1_000_000.0)
    assert auth.check_token(s, r.token, now=1_000_000.0 + 86400 + 1).reason == "expired"
    r = _login_token(s)
    s2 = _secrets()
    s2["credentials"]["usernames"]["anna"]["password"] = bcrypt.hashpw(b"new", bcrypt.gensalt(4)).decode()
    assert auth.check_token(s2, r.token).reason == "password_changed"
    del s2["credentials"]["usernames"]["anna"]
    assert auth.check_token(s2, r.token).reason == "unknown_user"


def test_cookie_is_written_secure_and_strict(monkeypatch):
    import extra_streamlit_components as stx

    calls = []

    class FakeManager:
        def __init__(self, key="init"):
            calls.append(("init", key))

        def set(self, cookie, val, **kw):
            calls.append(("set", cookie, val, kw))
    monkeypatch.setattr(stx, "CookieManager", FakeManager)
    auth._write_cookie(auth.CookieSettings("csi_test", STRONG_KEY, 3600.0, True), "tok", 3600.0)
    _, name, val, kw = calls[-1]
    assert (name, val) == ("csi_test", "tok")
    assert kw["secure"] is True and kw["same_site"] == "strict" and kw["max_age"] == 3600.0 and kw["path"] == "/"
    monkeypatch.setattr(auth, "_page_is_https", lambda: True)
    auth._write_cookie(auth.CookieSettings("csi_test", STRONG_KEY, 3600.0, None), "tok", 3600.0)
    assert calls[-1][3]["secure"] is True
    monkeypatch.setattr(auth, "_page_is_https", lambda: False)
    auth._write_cookie(auth.CookieSettings("csi_test", STRONG_KEY, 3600.0, None), "tok", 3600.0)
    assert calls[-1][3]["secure"] is False


# ------------------------------------------------------------- the app, end to end
pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture()
def app_env(tmp_path, monkeypatch):
    from conftest import app_environment

    env = app_environment(monkeypatch, tmp_path, bootstrap=30, stub_cookies=True)
    return env.cookies, env.written


def _app(secrets: dict) -> AppTest:
    from conftest import app_test

    return app_test(secrets=secrets, timeout=120)


def _shows_no_data(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.title and not at.metric and not at.dataframe and not at.text_input
    assert not [c for c in at.sidebar.caption if "Signed in" in c.value]


@pytest.mark.parametrize("key", ["replace-with-a-long-random-string", "k" * 32, "short-key"])
def test_app_refuses_a_weak_cookie_key(app_env, key):
    at = _app(_secrets(key=key))
    at.session_state["authentication_status"] = True  # even a session that claims to be signed in
    at.session_state["username"] = "rex"
    at.run()
    _shows_no_data(at)
    msg = t("cfg_cookie_key", "en", min_len=32, min_distinct=10, cmd=auth.KEY_COMMAND)
    assert [e.value for e in at.error] == [msg]
    assert "secrets.token_urlsafe(48)" in msg
    at.switch_page("app_pages/data.py")  # asking for a page by URL shows the same refusal only
    at.run()
    _shows_no_data(at)
    assert [e.value for e in at.error] == [msg]


def test_app_refuses_plain_text_passwords(app_env):
    s = _secrets()
    s["credentials"]["usernames"]["vera"]["password"] = "pw-vera"
    at = _app(s)
    at.run()
    _shows_no_data(at)
    assert [e.value for e in at.error] == [t("cfg_password_hash", "en", user="vera", cmd=auth.HASH_COMMAND)]


def test_data_page_run_alone_refuses_a_weak_configuration(app_env):
    from conftest import app_test

    at = app_test("app_pages/data.py", secrets=_secrets(key="k" * 32), timeout=60)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "anna"
    at.run()
    assert t("not_allowed", "en", role="-") in [e.value for e in at.error]
    assert len(at.get("file_uploader")) == 0


def _sign_in_form(at: AppTest, user: str, password: str) -> None:
    at.text_input[0].input(user)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()


def _signed_in_caption(at: AppTest, user: str, role: str) -> bool:
    name = f"{user} T"  # first and last name from the secrets
    return t("signed_in_as", "en", name=name, role=role) in [c.value for c in at.sidebar.caption]


def test_form_sign_in_sets_a_cookie_and_sign_out_kills_it(app_env):
    cookies, written = app_env
    s = _secrets()
    at = _app(s)
    at.run()
    _sign_in_form(at, "anna", "pw-anna")
    assert _signed_in_caption(at, "anna", "analyst")
    name, token, ttl = written[-1]
    assert name == "csi_test" and ttl == 86400 and auth.check_token(s, token).reason is None

    cookies["csi_test"] = token  # a reload: a new session arrives with the cookie
    other = _app(s)
    other.run()
    assert _signed_in_caption(other, "anna", "analyst") and not other.text_input

    at.button(key="csi_logout").click()  # sign out in the first tab
    at.run()
    assert not _signed_in_caption(at, "anna", "analyst") and len(at.text_input) == 2
    assert written[-1][1] == ""  # the browser is asked to drop it
    assert auth.check_token(s, token).reason == "revoked"

    other.run()  # the other tab's next run: its sign-in ended too
    assert not _signed_in_caption(other, "anna", "analyst") and len(other.text_input) == 2
    replay = _app(s)  # a copy of the cookie used after sign-out
    replay.run()
    assert not _signed_in_caption(replay, "anna", "analyst") and t("login_prompt", "en") in [i.value for i in replay.info]


def test_forged_cookie_does_not_sign_in(app_env, caplog):
    cookies, _ = app_env
    now = 1_800_000_000
    cookies["csi_test"] = jwt.encode({"sub": "rex", "jti": "x", "iat": now, "exp": now + 3600,
                                      "iss": auth.TOKEN_ISSUER}, OTHER_KEY, algorithm="HS256")
    at = _app(_secrets())
    with caplog.at_level(logging.WARNING, logger="csi.auth"):
        at.run()
        at.run()
    _shows_no_data_but_form = not at.title and len(at.text_input) == 2
    assert _shows_no_data_but_form and not _signed_in_caption(at, "rex", "researcher")
    rejected = [r for r in caplog.records if r.name == "csi.auth" and "cookie_rejected" in r.getMessage()]
    assert len(rejected) == 1 and "bad_signature" in rejected[0].getMessage()  # logged once per session


def test_form_locks_out_after_max_attempts(app_env):
    at = _app(_secrets(signin={"max_attempts": 2, "lockout_minutes": 15}))
    at.run()
    _sign_in_form(at, "rex", "wrong")
    assert [e.value for e in at.error] == [t("login_failed", "en")]
    _sign_in_form(at, "rex", "wrong")
    assert [e.value for e in at.error] == [t("login_locked", "en", minutes=15)]
    _sign_in_form(at, "rex", "pw-rex")  # the right password while locked
    assert [e.value for e in at.error] == [t("login_locked", "en", minutes=15)]
    assert not at.title and not _signed_in_caption(at, "rex", "researcher")


# ------------------------------------------------------------- 6. security headers
NGINX = ROOT / "deploy" / "nginx.conf"
HEADERS = {"strict-transport-security", "x-frame-options", "content-security-policy",
           "x-content-type-options", "referrer-policy"}


def _parse_nginx(text: str):
    """A small nginx parser: a block is a list of (name, args, children or None)."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[{};]|[^\s{};]+', text)
    pos = 0

    def block():
        nonlocal pos
        out, words = [], []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == ";":
                out.append((words[0], words[1:], None))
                words = []
            elif tok == "{":
                out.append((words[0], words[1:], block()))
                words = []
            elif tok == "}":
                assert not words, words
                return out
            else:
                words.append(tok.strip('"') if tok.startswith('"') else tok)
        assert not words, words
        return out
    tree = block()
    assert pos == len(tokens)
    return tree


def _find(tree, name):
    return [d for d in tree if d[0] == name]


def _headers(children) -> dict[str, str]:
    return {d[1][0].lower(): d[1][1] for d in children if d[0] == "add_header" and d[2] is None
            if d[1][-1] == "always"}


def test_nginx_config_ships_the_security_headers():
    tree = _parse_nginx(NGINX.read_text(encoding="utf-8"))
    http = _find(tree, "http")[0][2]
    servers = _find(http, "server")
    tls = [s[2] for s in servers if any("ssl" in d[1] for d in _find(s[2], "listen"))]
    assert len(tls) == 1
    tls = tls[0]
    assert _find(tls, "ssl_certificate") and _find(tls, "ssl_certificate_key")
    h = _headers(tls)
    assert HEADERS <= set(h)
    assert h["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert int(re.search(r"max-age=(\d+)", h["strict-transport-security"]).group(1)) >= 31536000
    assert h["referrer-policy"] in {"no-referrer", "strict-origin-when-cross-origin", "same-origin"}
    # nginx drops the server's add_header in a location with its own: those must repeat them all
    for loc in _find(tls, "location"):
        own = _headers(loc[2])
        if any(d[0] == "add_header" for d in loc[2]):
            assert HEADERS <= set(own), loc[1]
            assert own["x-frame-options"] in {"DENY", "SAMEORIGIN"}
            assert "frame-ancestors 'none'" in own["content-security-policy"] or (
                loc[1] == ["/component/"] and "frame-ancestors 'self'" in own["content-security-policy"])
    # the client address the app trusts is overwritten by the proxy, never passed on from the client
    sets = {d[1][0].lower(): d[1][1] for d in _find(tls, "proxy_set_header")}
    assert sets["x-real-ip"] == "$remote_addr" and sets["x-forwarded-proto"] == "$scheme"
    # Streamlit's websocket is upgraded
    stream = [loc[2] for loc in _find(tls, "location") if loc[1] == ["/_stcore/stream"]][0]
    up = {d[1][0].lower(): d[1][1] for d in _find(stream, "proxy_set_header")}
    assert up["upgrade"] == "$http_upgrade" and up["connection"] == "$connection_upgrade"
    assert _find(tls, "proxy_http_version")[0][1] == ["1.1"]
    assert any(d[0] == "proxy_pass" and "127.0.0.1" in str(_find(http, "upstream")) for d in stream)
    # plain http only redirects
    plain = [s[2] for s in servers if s[2] is not tls][0]
    assert _find(plain, "return")[0][1][0] == "301" and not _headers(plain)


def test_nginx_accepts_the_config(tmp_path):
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed for a throw-away certificate)")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    text = NGINX.read_text(encoding="utf-8")
    text = text.replace("/etc/ssl/csi/fullchain.pem", str(tmp_path / "cert.pem"))
    text = text.replace("/etc/ssl/csi/privkey.pem", str(tmp_path / "key.pem"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    (tmp_path / "logs").mkdir()
    out = subprocess.run([nginx, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "logs" / "error.log")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_broken_secrets_file_fails_closed_without_showing_its_path(monkeypatch, caplog, tmp_path):
    """A secrets file that does not parse locks the app; the visitor sees an incident id, never the file's path
    or the parser's message (those go to the server log)."""
    detail = "/srv/csi/.streamlit/secrets.toml: Invalid TOML at line 3 (PID 4242)"

    def broken():
        raise auth.SecretsBroken(detail)

    monkeypatch.setattr(auth, "load_secrets", broken)
    from conftest import app_environment, app_test

    app_environment(monkeypatch, tmp_path, bootstrap=None, cache=False)
    at = app_test(timeout=120)
    with caplog.at_level(logging.ERROR, logger="csi"):
        at.run()
    shown = " ".join(e.value for e in at.error)
    bare = re.sub(r"incident [0-9a-f]{6}", "incident", shown)  # the random id may hold any digits
    assert "incident" in shown and "/srv" not in bare and "4242" not in bare and "TOML" not in bare
    assert not at.metric and not at.dataframe  # no data behind a broken configuration
    m = re.search(r"incident ([0-9a-f]+)", shown)
    assert m and any(m.group(1) in r.getMessage() and "Invalid TOML" in r.getMessage() for r in caplog.records)
