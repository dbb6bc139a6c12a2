"""Hosting (issue 9): the background job queue, fail-closed start, brand scopes, deep links, no network.

Job tests use fake jobs that block on events (no timing asserts); app tests drive streamlit_app.py through
Streamlit's AppTest as tests/test_app.py does.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.jobs import Cancelled, JobRegistry, JobsBusy

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
WAIT = 30.0  # generous upper bound for an event; never a measured time


@pytest.fixture()
def reg():
    r = JobRegistry(max_queued=3)
    yield r
    r.close()


def _blocker(started: threading.Event, release: threading.Event, steps: int = 0, log=None):
    """A fake job: reports progress once, says it started, then waits for ``release`` reporting progress
    (so that a cancellation reaches it) until released."""
    def fn(progress):
        progress(0, 1)
        started.set()
        n = 0
        while not release.wait(0.01):
            n += 1
            progress(min(n, 1), 1)
        if log is not None:
            log.append("finished")
        return "result"
    return fn


def test_equal_keys_share_one_job(reg):
    started, release = threading.Event(), threading.Event()
    calls = []

    def fn(progress):
        calls.append(1)
        return _blocker(started, release)(progress)

    a = reg.submit("k", fn)
    b = reg.submit("k", fn)
    assert a is b
    assert started.wait(WAIT)
    release.set()
    assert reg.wait("k", WAIT).state == "done" and a.result == "result"
    assert reg.submit("k", fn) is a and len(calls) == 1  # a finished job is reused, not rerun


def test_the_queue_is_bounded(reg):
    started, release = threading.Event(), threading.Event()
    reg.submit("run", _blocker(started, release))
    assert started.wait(WAIT)
    queued = [reg.submit(("q", i), lambda p: i) for i in range(3)]
    assert [j.state for j in queued] == ["queued"] * 3
    over = reg.submit(("q", 3), lambda p: 3)
    assert over.state == "failed" and isinstance(over.exc, JobsBusy)
    other_lane = reg.submit("long", lambda p: "ok", lane="long")  # the other lane has its own bound
    assert reg.wait("long", WAIT).state == "done" and other_lane.result == "ok"
    release.set()
    for i in range(3):
        assert reg.wait(("q", i), WAIT).state == "done"
    again = reg.submit(("q", 3), lambda p: 3)  # a refused request is tried afresh once there is room
    assert again is not over and reg.wait(("q", 3), WAIT).state == "done"


def test_a_new_selection_cancels_the_stale_running_job(reg):
    started, release = threading.Event(), threading.Event()
    log: list[str] = []
    old = reg.submit(("boot", "v1", "brand=A"), _blocker(started, release, log=log), owner=("s1", "overview"))
    assert started.wait(WAIT)
    queued_stale = reg.submit(("boot", "v1", "brand=B"), lambda p: "B", owner=("s1", "overview"))
    # the second submission released the first: it stops at its next progress report
    assert reg.wait(old.key, WAIT) is old and old.state == "cancelled" and log == []
    assert reg.get(old.key) is None  # a cancelled job is no result
    new = reg.submit(("boot", "v2", "brand=B"), lambda p: "B2", owner=("s1", "overview"))  # a new data version
    assert reg.wait(new.key, WAIT).state == "done" and new.result == "B2"
    assert queued_stale.state in ("cancelled", "done")  # superseded while queued, or finished before that
    assert queued_stale.state == "cancelled" or queued_stale.result == "B"


def test_a_new_data_version_cancels_every_job_of_the_old_one(reg):
    started, release = threading.Event(), threading.Event()
    old_running = reg.submit(("groups", "db", "v1", "a"), _blocker(started, release), owner=("s1", "overview"))
    assert started.wait(WAIT)
    old_queued = reg.submit(("fit", "db", "v1", "b"), lambda p: "x", lane="interactive", owner=("s2", "fit"))
    other_db = reg.submit(("fit", "other.db", "v1", "c"), lambda p: "kept", lane="long")
    current = reg.submit(("groups", "db", "v2", "a"), lambda p: "new", lane="long")
    stale = reg.cancel_where(lambda k: k[1] == "db" and k[2] != "v2")
    assert sorted(j.key for j in stale) == sorted([old_running.key, old_queued.key])
    assert old_queued.state == "cancelled"  # it waited behind the running one in the same lane
    assert reg.wait(old_running.key, WAIT).state == "cancelled"
    assert reg.wait(current.key, WAIT).state == "done" and reg.wait(other_db.key, WAIT).state == "done"


def test_a_queued_job_is_cancelled_without_running(reg):
    started, release = threading.Event(), threading.Event()
    reg.submit("blocker", _blocker(started, release))
    assert started.wait(WAIT)
    ran = []
    stale = reg.submit("stale", lambda p: ran.append(1), owner=("s1", "model"))
    fresh = reg.submit("fresh", lambda p: "x", owner=("s1", "model"))
    assert stale.state == "cancelled" and fresh.state == "queued"
    release.set()
    assert reg.wait("fresh", WAIT).state == "done"
    assert ran == []


def test_a_job_another_session_wants_is_not_cancelled(reg):
    started, release = threading.Event(), threading.Event()
    job = reg.submit("shared", _blocker(started, release), owner=("s1", "overview"))
    assert reg.submit("shared", lambda p: None, owner=("s2", "overview")) is job
    assert started.wait(WAIT)
    reg.submit("s1-new", lambda p: None, owner=("s1", "overview"))
    assert not job.cancel_event.is_set() and job.state == "running"
    release.set()
    assert reg.wait("shared", WAIT).state == "done"
    # once the last owner moves on, a running job is cancelled
    started2, release2 = threading.Event(), threading.Event()
    j2 = reg.submit("only", _blocker(started2, release2), owner=("s3", "p"))
    assert started2.wait(WAIT)
    assert reg.join("only", ("s4", "p")) is j2
    reg.release(("s3", "p"))
    assert not j2.cancel_event.is_set()
    reg.release(("s4", "p"))
    assert reg.wait("only", WAIT).state == "cancelled"


def test_a_delayed_job_does_not_occupy_the_worker(reg):
    """The overview's delayed start: a job due later does not hold up a job submitted after it."""
    gate = threading.Event()
    reg.submit("later", lambda p: "late", delay=3600.0)
    quick = reg.submit("now", lambda p: gate.set() or "now")
    assert gate.wait(WAIT) and reg.wait("now", WAIT).state == "done" and quick.result == "now"
    assert reg._jobs["later"].state == "queued"


def test_a_long_bootstrap_cannot_starve_the_interactive_lane(reg):
    started, release = threading.Event(), threading.Event()
    long_job = reg.submit("researcher", _blocker(started, release), lane="long")
    assert started.wait(WAIT)
    ov = reg.submit("overview", lambda p: "overview done")
    assert reg.wait("overview", WAIT).state == "done" and ov.result == "overview done"
    assert long_job.state == "running"  # still busy: the overview did not wait for it
    release.set()
    assert reg.wait("researcher", WAIT).state == "done"


def test_a_resubmitted_cancelled_job_runs_afresh(reg):
    started, release = threading.Event(), threading.Event()
    job = reg.submit("k", _blocker(started, release), owner=("s", "p"))
    assert started.wait(WAIT)
    reg.cancel("k")
    again = reg.submit("k", lambda p: "second")  # asked again while the old run is still unwinding
    assert again is not job
    assert reg.wait("k", WAIT).state == "done" and again.result == "second"
    assert job.ended.wait(WAIT) and job.state == "cancelled"


def test_the_app_puts_a_researchers_own_resample_count_in_the_long_lane(monkeypatch):
    from app import state

    monkeypatch.setenv("CSI_APP_BOOTSTRAP", "200")
    b = state.overview_bootstrap()
    assert b == 200 and state.job_lane(b) == "interactive" and state.job_lane(20) == "interactive"
    assert state.job_lane(b + 1) == "long" and state.job_lane(5000) == "long"


def test_failures_are_kept_with_their_exception(reg):
    def boom(progress):
        raise ValueError("bad")

    job = reg.submit("x", boom)
    assert reg.wait("x", WAIT).state == "failed" and isinstance(job.exc, ValueError) and "ValueError" in job.trace


def test_cancellation_unwinds_the_engine_bootstrap():
    """The progress callback's Cancelled stops csi.engine.bootstrap between chunks: later chunks never run."""
    import numpy as np
    import pandas as pd

    from csi.engine import bootstrap
    from csi.model.syntax import parse_model

    rng = np.random.default_rng(3)
    n = 120
    x = rng.normal(size=n)
    y = 0.6 * x + rng.normal(scale=0.8, size=n)
    df = pd.DataFrame({f"x{i}": x + rng.normal(scale=0.5, size=n) for i in (1, 2, 3)}
                      | {f"y{i}": y + rng.normal(scale=0.5, size=n) for i in (1, 2, 3)})
    spec = parse_model("X =~ x1 + x2 + x3\nY =~ y1 + y2 + y3\nY ~ X")
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 10:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        bootstrap.bootstrap_pls(df, spec, n_boot=200, seed=1, chunk_size=10, threads=1, progress=progress,
                                jackknife=False)
    assert seen == [10]


# ====================================================================== the app (AppTest)
pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import auth  # noqa: E402
from app.i18n import t  # noqa: E402

OWN, OTHER = "Skyline Mobile", "Horizon Telecom"
COOKIE_KEY = "csi-test-cookie-key-9Qf2LmX7vR4nT8wZ"


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("hostdb") / "csi.duckdb", 200, waves=3)


@pytest.fixture()
def app_env(small_db, tmp_path, monkeypatch):
    from conftest import app_environment, clear_streamlit_caches

    # point estimates only: these tests are about who sees what
    yield app_environment(monkeypatch, tmp_path, copy_of=small_db, bootstrap=0, open_mode=True, stub_cookies=True,
                          clear=True).db
    clear_streamlit_caches()


def _bcrypt(pw: str) -> str:
    import bcrypt

    return bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()


def _secrets(**users) -> dict:
    """users: name -> dict(role=..., brands=..., industry_aggregate=...)."""
    table = {}
    for name, u in users.items():
        entry = {"email": f"{name}@example.com", "first_name": name, "last_name": "T",
                 "password": _bcrypt("pw-" + name), "roles": [u.get("role", "viewer")]}
        entry.update({k: v for k, v in u.items() if k != "role"})
        table[name] = entry
    return {"cookie": {"name": "csi_test", "key": COOKIE_KEY, "expiry_days": 1},
            "credentials": {"usernames": table}}


def _app(secrets: dict | None = None) -> AppTest:
    from conftest import app_test

    return app_test(secrets=secrets)


def _sign_in(at: AppTest, user: str) -> None:
    at.text_input[0].input(user)
    at.text_input[1].input("pw-" + user)
    at.button[0].click()
    at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    internal = t("err_internal", "en", incident="")[:40]
    assert not [e.value for e in at.error if e.value.startswith(internal)]


def _sidebar_brand(at: AppTest):
    return at.sidebar.multiselect(key="f_brand")


# ------------------------------------------------------------------ fail closed
def test_require_auth_without_users_shows_only_a_configuration_message(app_env, monkeypatch):
    monkeypatch.setenv(auth.REQUIRE_AUTH_ENV, "1")
    at = _app()
    at.run()
    _ok(at)
    assert [e.value for e in at.error] == [t("cfg_auth_required", "en", env="CSI_REQUIRE_AUTH")]
    assert not at.title and not at.metric and not at.dataframe and not at.sidebar.multiselect
    assert not at.text_input  # no sign-in form either: there is nobody to sign in
    at.switch_page("app_pages/data.py")  # a page asked for by URL: the same refusal, nothing else
    at.run()
    assert [e.value for e in at.error] == [t("cfg_auth_required", "en", env="CSI_REQUIRE_AUTH")]
    assert not at.title and not at.dataframe and not at.get("file_uploader")


def test_require_auth_page_run_alone_refuses(app_env, monkeypatch):
    monkeypatch.setenv(auth.REQUIRE_AUTH_ENV, "1")
    at = AppTest.from_file(str(ROOT / "app_pages" / "data.py"), default_timeout=60)
    at.run()
    assert t("not_allowed", "en", role="-") in [e.value for e in at.error]
    assert not at.get("file_uploader")


def test_without_the_variable_no_users_is_the_open_demo(app_env):
    at = _app()
    at.run()
    _ok(at)
    assert t("open_banner", "en") in [w.value for w in at.sidebar.warning]
    assert auth.auth_required({"CSI_REQUIRE_AUTH": "1"}) and not auth.auth_required({"CSI_REQUIRE_AUTH": "0"})
    assert not auth.auth_required({})


def test_require_auth_with_users_shows_the_sign_in_form(app_env, monkeypatch):
    monkeypatch.setenv(auth.REQUIRE_AUTH_ENV, "1")
    at = _app(_secrets(vera={"role": "viewer"}))
    at.run()
    _ok(at)
    assert len(at.text_input) == 2 and not at.metric
    _sign_in(at, "vera")
    _ok(at)
    assert at.metric  # the overview


# ------------------------------------------------------------------ brand scopes
def test_scope_entries_are_validated():
    ok = _secrets(sam={"brands": [OTHER], "industry_aggregate": True})
    assert auth.config_problem(ok) is None
    assert auth.scope_of(ok, username="sam") == ((OTHER,), True)
    assert auth.scope_of(_secrets(x={}), username="x") == (None, False)
    for bad in ([], "", [1], {"a": 1}):
        assert auth.config_problem(_secrets(sam={"brands": bad})) == ("cfg_brand_scope", {"user": "sam"}), bad
    assert auth.config_problem(_secrets(sam={"brands": [OTHER], "industry_aggregate": "yes"}))[0] == "cfg_brand_scope"
    oidc = {"auth": {"provider": "x"}, "brand_scopes": {"Dora@Example.com": {"brands": [OTHER]}, "eve@x.org": [OWN]}}
    assert auth.scope_of(oidc, email="dora@example.com") == ((OTHER,), False)
    assert auth.scope_of(oidc, email="eve@x.org") == ((OWN,), False)
    assert auth.scope_of(oidc, email="nobody@x.org") == (None, False)
    assert auth.oidc_problem({"auth": {}, "brand_scopes": {"eve@x.org": []}}) == ("cfg_brand_scope", {"user": "eve@x.org"})


def test_the_engine_applies_the_scope_before_anything_else(small_db):
    from csi.errors import DataError
    from csi.report.build import Selection, prepare

    full = prepare(str(small_db), Selection(own_brand_by_default=False))
    assert set(full.frame["brand"]) == {OWN, OTHER}
    prep = prepare(str(small_db), Selection(allowed_brands=(OTHER,), own_brand_by_default=True))
    assert set(prep.frame["brand"]) == {OTHER} and set(prep.brands) <= {OTHER}
    assert prep.competitor is None and (prep.brand_frame is None or set(prep.brand_frame["brand"]) == {OTHER})
    assert len(prep.frame) == int((full.frame["brand"] == OTHER).sum())
    with pytest.raises(DataError, match="outside this user's brand scope"):
        prepare(str(small_db), Selection(filters=(("brand", (OWN,)),), allowed_brands=(OTHER,)))
    no_brand = full.frame.drop(columns="brand")  # a scope on data without a brand column fails closed
    with pytest.raises(DataError, match="needs the brand column"):
        prepare(no_brand, Selection(allowed_brands=(OTHER,)))


def _all_brands_shown(at: AppTest) -> set[str]:
    """Every brand name that appears in a table, chart spec, metric or text of the run."""
    import json

    seen = set()
    texts = [str(e.value) for e in list(at.markdown) + list(at.caption) + list(at.info) + list(at.warning)]
    texts += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    for df in at.dataframe:
        v = df.value
        data = getattr(v, "data", v)  # a Styler or a frame
        texts.append(data.to_csv())
    for el in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart") + at.get("plotly_chart"):
        texts.append(json.dumps(getattr(el, "proto", None) and str(el.proto)))
    blob = "\n".join(texts)
    for b in (OWN, OTHER):
        if b in blob:
            seen.add(b)
    return seen


def test_a_scoped_user_sees_only_their_brand_on_every_page(app_env):
    at = _app(_secrets(hana={"role": "researcher", "brands": [OTHER]}))
    at.run()
    _sign_in(at, "hana")
    _ok(at)
    assert _sidebar_brand(at).options == [OTHER] and _sidebar_brand(at).value == [OTHER]
    assert t("scope_caption", "en", brands=OTHER) in [c.value for c in at.sidebar.caption]
    for page in ("overview", "model", "drivers", "compare", "classic", "downloads"):
        at.switch_page(f"app_pages/{page}.py")
        at.run()
        _ok(at)
        assert OWN not in _all_brands_shown(at), page
    sel = at.session_state["csi_selection"]
    assert sel.allowed_brands == (OTHER,)
    from app import state

    prep = state.prepared(sel)  # what every page reads: the engine's scoped selection
    assert set(prep.frame["brand"]) == {OTHER}


def test_a_scoped_user_cannot_reach_another_brand_by_url(app_env):
    at = _app(_secrets(hana={"role": "viewer", "brands": [OTHER]}))
    at.query_params["brand"] = [OWN]  # a crafted link asking for the other company's brand
    at.run()
    _sign_in(at, "hana")
    _ok(at)
    assert _sidebar_brand(at).value == [] and _sidebar_brand(at).options == [OTHER]
    assert t("scope_refused", "en") in [w.value for w in at.sidebar.warning]
    assert OWN not in _all_brands_shown(at)
    assert at.query_params.get("brand") in ("", [""], None)  # the URL no longer names it
    sel = at.session_state["csi_selection"]
    assert not any(c == "brand" and OWN in v for c, v in sel.filters)


def test_an_unscoped_user_still_sees_every_brand(app_env):
    at = _app(_secrets(rex={"role": "researcher"}))
    at.run()
    _sign_in(at, "rex")
    _ok(at)
    assert set(_sidebar_brand(at).options) == {OWN, OTHER}
    assert at.session_state["csi_selection"].allowed_brands is None


# ------------------------------------------------------------------ deep links and language
def test_query_parameters_round_trip_through_the_sign_in_form(app_env):
    waves = None
    s = _secrets(rex={"role": "researcher"})
    first = _app(s)
    first.run()
    _sign_in(first, "rex")
    waves = list(first.session_state["csi_selection"].all_waves)
    # the user picks a view: Chinese, drivers page, two waves, the other brand, ECSI, unweighted
    first.sidebar.segmented_control(key="lang").set_value("zh").run()
    first.sidebar.multiselect(key="f_waves").set_value(waves[:2]).run()
    first.sidebar.multiselect(key="f_brand").set_value([OTHER]).run()
    first.sidebar.selectbox(key="f_model").set_value("ecsi").run()
    first.sidebar.checkbox(key="f_weighted").uncheck().run()
    first.switch_page("app_pages/drivers.py")
    first.run()
    _ok(first)
    url = dict(first.query_params)
    assert url["lang"] == "zh" and url["page"] == "drivers" and url["model"] == "ecsi" and url["weights"] == "0"
    assert url["brand"] in (OTHER, [OTHER]) and url["waves"] == waves[:2]

    # a bookmark of that URL opened in a new browser session: sign in, and the same view is back
    again = _app(s)
    for k, v in url.items():
        again.query_params[k] = v
    again.run()
    assert len(again.text_input) == 2  # the sign-in form first ...
    _sign_in(again, "rex")
    _ok(again)
    sel = again.session_state["csi_selection"]
    assert sel.lang == "zh" and sel.waves == tuple(waves[:2]) and sel.model == "ecsi" and not sel.weighted
    assert dict(sel.filters).get("brand") == (OTHER,)
    assert t("dr_title", "zh") in [x.value for x in again.title]  # ... then the bookmarked page, in Chinese
    assert dict(again.query_params) == url


def test_reload_keeps_the_language(app_env):
    at = _app()  # the open demo (no users)
    at.run()
    at.sidebar.segmented_control(key="lang").set_value("zh").run()
    _ok(at)
    assert at.query_params.get("lang") == "zh"
    reload = _app()
    reload.query_params.update(dict(at.query_params))
    reload.run()
    _ok(reload)
    assert reload.session_state["lang"] == "zh" and t("ov_title", "zh") in [x.value for x in reload.title]


# ------------------------------------------------------------------ no network at run time
SITECUSTOMIZE = r'''
import os, socket
_LOG = os.environ["CSI_NET_LOG"]
def _note(what):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(what + "\n")
_note("loaded")
def _local(host):
    h = str(host or "")
    return h in ("", "localhost", "0.0.0.0", "::", "::1") or h.startswith("127.") or h.startswith("/")
_getaddrinfo = socket.getaddrinfo
def getaddrinfo(host, *a, **k):
    if not _local(host if not isinstance(host, bytes) else host.decode()):
        _note(f"blocked getaddrinfo {host!r}")
        raise OSError("network blocked by the test")
    return _getaddrinfo(host, *a, **k)
socket.getaddrinfo = getaddrinfo
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _note(f"blocked connect {address!r}")
        raise OSError("network blocked by the test")
def connect(self, address):
    _check(self, address)
    return _connect(self, address)
def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_config_turns_off_telemetry_and_the_external_ip_lookup():
    import tomllib

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert conf["browser"]["gatherUsageStats"] is False
    assert conf["browser"]["serverAddress"]  # manually set: no checkip lookup for the start-up banner
    import ast

    tree = ast.parse(Path(APP).read_text(encoding="utf-8"))
    icons = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", "") == "set_page_config" for kw in node.keywords if kw.arg == "page_icon"]
    assert icons and not any(str(i).startswith(":material") for i in icons)  # a :material: favicon is fetched


def test_the_real_server_serves_the_app_with_the_network_blocked(tmp_path):
    """streamlit run, headless, on every interface (as in a container), with outbound connections refused and
    logged by a sitecustomize: the page and a whole script run are served and nothing tried the network."""
    import asyncio
    import os
    import subprocess
    import sys
    import urllib.request

    websockets = pytest.importorskip("websockets")
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "net.log"
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), CSI_NET_LOG=str(log),
               CSI_DB=str(tmp_path / "csi.duckdb"), CSI_REQUIRE_AUTH="1", CSI_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("STREAMLIT_BROWSER_SERVER_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "0.0.0.0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = None
        for _ in range(600):  # up to a minute for the server to come up (a bound, not a measured time)
            if proc.poll() is not None:
                break
            try:
                health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                import time

                time.sleep(0.1)
        assert health == b"ok", proc.poll()
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode("utf-8")
        assert "<title>" in page.lower() or "<html" in page.lower()

        async def one_run():
            msgs = []
            async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                          max_size=None, open_timeout=30) as ws:
                back = BackMsg()
                back.rerun_script.query_string = ""
                back.rerun_script.page_script_hash = ""
                await ws.send(back.SerializeToString())
                while True:
                    fm = ForwardMsg()
                    fm.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=120))
                    msgs.append(fm)
                    if fm.WhichOneof("type") == "script_finished":
                        return msgs
        msgs = asyncio.run(one_run())
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0]
    shown = " ".join(str(m) for m in msgs)
    assert "CSI_REQUIRE_AUTH" in shown  # the script ran: the fail-closed message (no users configured)
    icons = [m.page_config_changed.favicon for m in msgs if m.WhichOneof("type") == "page_config_changed"]
    assert icons and not any(i.startswith(":material") for i in icons), icons
    lines = log.read_text(encoding="utf-8").splitlines()
    assert "loaded" in lines  # the guard was active in the server process
    assert [x for x in lines if x != "loaded"] == [], (lines, out[-2000:])
    assert "External URL" not in out


# ------------------------------------------------------------------ the anonymised "Industry" aggregate
THIRD = "Coast Net"


@pytest.fixture(scope="module")
def three_brand_db(tmp_path_factory):
    """Three demo waves, 240 respondents each, every third respondent relabelled as a third brand."""
    from csi.data import demo, store
    from csi.data.ingest import ingest_frame

    path = tmp_path_factory.mktemp("three") / "csi.duckdb"
    survey = demo.generate(20240601)
    con = store.connect(path)
    try:
        for label in list(survey.waves)[-3:]:
            df = survey.waves[label].head(240).copy().reset_index(drop=True)
            df.loc[df.index % 3 == 0, "brand"] = THIRD
            raw = df.astype(object).where(df.notna(), "").astype(str)
            a, b = demo.WAVE_DATES[label]
            ingest_frame(con, raw, wave=label, source_name=f"demo_{label}.csv", field_start=a, field_end=b)
        store.set_setting(con, "own_brand", survey.own_brand)
        store.set_setting(con, "brand_column", "brand")
    finally:
        con.close()
    return path


def _industry_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def test_industry_mean_is_not_shown_with_two_brands(app_env):
    at = _app(_secrets(hana={"role": "viewer", "brands": [OTHER], "industry_aggregate": True}))
    at.run()
    _sign_in(at, "hana")
    _ok(at)
    from app import state

    assert t("industry_too_few", "en", min=state.INDUSTRY_MIN_BRANDS) in _industry_captions(at)


def test_industry_mean_is_the_mean_of_every_brand_and_nothing_else(three_brand_db, app_env, monkeypatch):
    import shutil

    from csi.report.build import Selection, prepare, trends_table, wave_fits

    shutil.copy(three_brand_db, app_env)  # the app's database is now the three-brand one
    at = _app(_secrets(hana={"role": "viewer", "brands": [OTHER], "industry_aggregate": True},
                       ivo={"role": "viewer", "brands": [OTHER]}))
    at.run()
    _sign_in(at, "hana")
    _ok(at)
    sel = at.session_state["csi_selection"]
    # the truth: each brand fitted on its own by the engine, then the plain mean of the brands' indices
    per_brand = []
    for b in (OWN, OTHER, THIRD):
        prep = prepare(str(app_env), Selection(filters=(("brand", (b,)),)))
        per_brand.append(trends_table(wave_fits(prep, n_boot=0)).set_index(["wave", "construct"])["index"])
    truth = pd_concat_mean(per_brand)
    latest = sel.latest
    shown = {c for c in _industry_captions(at) if ": " in c and c.split(": ")[-1].replace(".", "").isdigit()}
    expected = {f"{_label(k)}: {v:.1f}" for (w, k), v in truth.items() if str(w) == latest}
    assert expected and expected <= shown, (expected, shown)
    assert OWN not in _all_brands_shown(at) and THIRD not in _all_brands_shown(at)
    assert [e for e in at.sidebar.expander if "Industry" in str(getattr(e, "label", ""))]
    # a scoped user without industry_aggregate gets no aggregate
    other = _app(_secrets(hana={"role": "viewer", "brands": [OTHER], "industry_aggregate": True},
                          ivo={"role": "viewer", "brands": [OTHER]}))
    other.run()
    _sign_in(other, "ivo")
    _ok(other)
    assert not [e for e in other.sidebar.expander if "Industry" in str(getattr(e, "label", ""))]


def pd_concat_mean(series):
    import pandas as pd

    return pd.concat(series, axis=1).mean(axis=1)


def _label(code: str) -> str:
    from app.i18n import construct_label

    from app.ui import plain

    return plain(construct_label(str(code), "en"))



# ------------------------------------------------------------------ the board brief for executives
def test_a_viewer_takes_the_brief_from_the_overview(app_env):
    """Viewers (executives) have no Downloads page, yet the brief is theirs: the Overview offers PPTX, PDF and the
    HTML report of the engine (whose headline equals the Overview's: tests/test_brief.py)."""
    at = _app(_secrets(vera={"role": "viewer"}))
    at.run()
    _sign_in(at, "vera")
    _ok(at)
    keys = {b.key for b in at.get("download_button")}
    assert {"ov_brief_pptx", "ov_brief_pdf", "ov_report"} <= keys, keys
    assert not auth.can("viewer", "downloads")  # the researcher's tables stay with researchers


def test_a_brand_scoped_analyst_cannot_open_the_programmes_data_page(app_env):
    """The Data page manages every brand's waves, uploads, trash and audit log: not for a scoped user, whatever
    the role (neither in the navigation nor by URL); an unscoped analyst keeps it."""
    at = _app(_secrets(sam={"role": "analyst", "brands": [OTHER]}, anna={"role": "analyst"}))
    at.run()
    _sign_in(at, "sam")
    _ok(at)
    assert auth.user_pages(auth.User("sam", "analyst", "password", brands=(OTHER,))) == auth.pages_for("viewer")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/data.py")  # not registered for this user: no URL reaches it
    assert not at.get("file_uploader")
    assert "data" in auth.user_pages(auth.User("anna", "analyst", "password"))
