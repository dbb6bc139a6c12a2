"""Deployment: the image's entry script (deploy/entrypoint.py), the inbox ingest job
(``python -m csi ingest-inbox``) and the consistency of Dockerfile / compose.yaml with both.

There is no Docker on this machine: the entry script runs for real as a subprocess (``--check``,
``--print-command``, and once all the way into a real Streamlit server answering its health check);
the inbox command runs on temporary folders with good and bad files. Secrets come from
``$HOME/.streamlit/secrets.toml`` of a temporary HOME (one of the places Streamlit reads them).
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "deploy" / "entrypoint.py"

if (ROOT / ".streamlit" / "secrets.toml").exists():
    pytest.skip("a developer's .streamlit/secrets.toml would override the test's secrets", allow_module_level=True)


# ------------------------------------------------------------------ helpers
def _hash(password: str = "pw") -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


GOOD_KEY = "Zq8vN3xK1pL7mR2tW9yB4cF6hJ0sD5gA-uE_iO"  # 38 characters, 38 distinct: passes key_problem


def _write_secrets(home: Path, text: str | None) -> None:
    d = home / ".streamlit"
    d.mkdir(parents=True, exist_ok=True)
    f = d / "secrets.toml"
    if text is None:
        f.unlink(missing_ok=True)
    else:
        f.write_text(text, encoding="utf-8")


def _password_secrets(key: str = GOOD_KEY, password: str | None = None) -> str:
    return (f'[cookie]\nkey = "{key}"\n\n[credentials.usernames.ann]\nname = "Ann"\n'
            f'password = "{password or _hash()}"\nroles = ["analyst"]\n')


def _entry(home: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSI_")}
    run_env = {**base, "HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, str(ENTRY), *args], env=run_env, capture_output=True, text=True,
                          timeout=timeout, cwd="/")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


# ------------------------------------------------------------------ entry script: refusals
def test_require_auth_without_users_refuses_and_writes_nothing(home, tmp_path):
    db = tmp_path / "data" / "csi.duckdb"
    db.parent.mkdir()
    r = _entry(home, "--print-command", env={"CSI_DB": str(db)})  # CSI_REQUIRE_AUTH defaults to 1
    assert r.returncode == 2, r.stderr
    assert "CSI_REQUIRE_AUTH=1 and no users are configured" in r.stderr
    assert not db.exists() and r.stdout == ""


def test_open_mode_only_when_auth_is_not_required(home, tmp_path):
    r = _entry(home, "--check", env={"CSI_DB": str(tmp_path / "csi.duckdb"), "CSI_REQUIRE_AUTH": "0"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["auth_mode"] == "open" and out["settings"]["require_auth"] is False
    assert out["store"] is None and not (tmp_path / "csi.duckdb").exists()  # --check writes nothing


@pytest.mark.parametrize("secrets, words", [
    (_password_secrets(key="replace-with-a-long-random-string"), "cookie"),      # the example's placeholder key
    (_password_secrets(key="k" * 40), "cookie"),                                 # a repeated key
    (_password_secrets(password="hunter2-plain-text"), "ann"),                   # a plain-text password
    (_password_secrets(password="REPLACE_WITH_BCRYPT_HASH"), "ann"),
    ('[auth]\nredirect_uri = "https://x/oauth2callback"\ncookie_secret = "changeme-changeme-changeme-1234567"\n'
     'client_id = "a"\nclient_secret = "b"\nserver_metadata_url = "https://x/.well-known/openid-configuration"\n',
     "cookie_secret"),
    ("[cookie\nkey = 1\n", "does not parse"),
])
def test_placeholder_or_broken_secrets_refused(home, tmp_path, secrets, words):
    _write_secrets(home, secrets)
    r = _entry(home, "--check", env={"CSI_DB": str(tmp_path / "csi.duckdb")})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("entrypoint: refused:") and words.lower() in r.stderr.lower(), r.stderr
    # no secret value is echoed
    for secret in ("hunter2-plain-text", "changeme-changeme-changeme-1234567"):
        assert secret not in r.stderr


def test_oidc_without_redirect_uri_refused(home, tmp_path):
    _write_secrets(home, f'[auth]\ncookie_secret = "{GOOD_KEY}"\nclient_id = "a"\n')
    r = _entry(home, "--check", env={"CSI_DB": str(tmp_path / "csi.duckdb")})
    assert r.returncode == 2 and "redirect_uri" in r.stderr, r.stderr


def test_complete_oidc_secrets_need_authlib(home, tmp_path):
    import importlib.util

    _write_secrets(home, f'[auth]\nredirect_uri = "https://csi.example.org/oauth2callback"\n'
                         f'cookie_secret = "{GOOD_KEY}"\nclient_id = "a"\nclient_secret = "b"\n'
                         'server_metadata_url = "https://idp.example.org/.well-known/openid-configuration"\n')
    r = _entry(home, "--check", env={"CSI_DB": str(tmp_path / "csi.duckdb")})
    if importlib.util.find_spec("authlib") is None:
        assert r.returncode == 2 and "Authlib" in r.stderr, r.stderr
    else:
        assert r.returncode == 0 and json.loads(r.stdout)["auth_mode"] == "oidc", r.stderr


@pytest.mark.parametrize("env, words", [
    ({"CSI_PORT": "http"}, "CSI_PORT"), ({"CSI_PORT": "70000"}, "CSI_PORT"),
    ({"CSI_REQUIRE_AUTH": "maybe"}, "CSI_REQUIRE_AUTH"),
])
def test_bad_settings_refused(home, tmp_path, env, words):
    _write_secrets(home, _password_secrets())
    r = _entry(home, "--check", env={"CSI_DB": str(tmp_path / "csi.duckdb"), **env})
    assert r.returncode == 2 and words in r.stderr, r.stderr


def test_missing_data_volume_refused(home, tmp_path):
    _write_secrets(home, _password_secrets())
    r = _entry(home, "--print-command", env={"CSI_DB": str(tmp_path / "no-volume" / "csi.duckdb")})
    assert r.returncode == 2 and "data folder" in r.stderr and "mount the data volume" in r.stderr, r.stderr
    assert not (tmp_path / "no-volume").exists()


# ------------------------------------------------------------------ entry script: what it sets up
def test_print_command_creates_and_migrates_the_store_and_sets_streamlit_flags(home, tmp_path):
    from csi.data import store

    _write_secrets(home, _password_secrets())
    db = tmp_path / "data" / "csi.duckdb"
    db.parent.mkdir()
    r = _entry(home, "--print-command", env={"CSI_DB": str(db), "CSI_PORT": "8642", "CSI_BASE_PATH": "/csi/"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["auth_mode"] == "password"
    assert out["env"] == {"CSI_DB": str(db), "CSI_REQUIRE_AUTH": "1"}
    assert out["store"].startswith("created an empty store")
    cmd = out["command"]
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and cmd[4] == str(ROOT / "streamlit_app.py")
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags == {"--server.address": "0.0.0.0", "--server.port": "8642", "--server.headless": "true",
                     "--browser.gatherUsageStats": "false", "--server.fileWatcherType": "none",
                     "--server.runOnSave": "false", "--global.developmentMode": "false",
                     "--server.baseUrlPath": "csi"}
    # the store exists, is at the current schema and holds no waves (no demo unless CSI_DEMO=1)
    con = store.connect(db, read_only=True)
    try:
        assert store._schema_version(con) == store.SCHEMA_VERSION
        assert store.wave_labels(con) == []
    finally:
        con.close()
    version = store.current_version(db)
    again = _entry(home, "--print-command", env={"CSI_DB": str(db)})  # a restart: nothing to do, nothing written
    assert again.returncode == 0 and json.loads(again.stdout)["store"].startswith("store is current"), again.stderr
    assert store.current_version(db) == version


def test_an_older_store_is_migrated_keeping_its_waves(home, tmp_path):
    """A store written by the previous release (schema 2, single file) is brought to the current schema
    through the one write path, with its waves intact."""
    from csi.data import store

    assert store.SCHEMA_VERSION > 2
    _write_secrets(home, _password_secrets())
    db = tmp_path / "data" / "csi.duckdb"
    db.parent.mkdir()
    old = ("import sys; from csi.data import store; from csi.data.ingest import ingest_file\n"
           "store._MIGRATIONS[:] = [m for m in store._MIGRATIONS if m[0] <= 2]; store.SCHEMA_VERSION = 2\n"
           "con = store.connect(sys.argv[1]); ingest_file(con, sys.argv[2], '2025Q4'); con.close()")
    csv = _survey(tmp_path / "old.csv", n=80)
    r = subprocess.run([sys.executable, "-c", old, str(db), str(csv)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    r = _entry(home, "--print-command", env={"CSI_DB": str(db)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["store"] == f"migrated store (schema version 2 -> {store.SCHEMA_VERSION})"
    con = store.connect(db, read_only=True)
    try:
        assert store._schema_version(con) == store.SCHEMA_VERSION
        assert dict(zip(store.list_waves(con)["label"], store.list_waves(con)["n_respondents"])) == {"2025Q4": 80}
        assert _waves(db) == {"2025Q4": 80}
    finally:
        con.close()


def test_extra_arguments_after_double_dash_are_passed_to_streamlit(home, tmp_path):
    _write_secrets(home, _password_secrets())
    r = _entry(home, "--check", "--", "--server.maxUploadSize", "50",
               env={"CSI_DB": str(tmp_path / "csi.duckdb")})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["command"][-2:] == ["--server.maxUploadSize", "50"]


def test_entry_script_execs_a_real_streamlit_that_passes_the_health_check(home, tmp_path):
    """All the way: check, migrate, exec (the child process *becomes* streamlit), health check ok."""
    _write_secrets(home, _password_secrets())
    db = tmp_path / "data" / "csi.duckdb"
    db.parent.mkdir()
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSI_")}, "HOME": str(home),
           "CSI_DB": str(db), "CSI_PORT": str(port), "CSI_ADDRESS": "127.0.0.1",
           "CSI_CACHE_DIR": str(tmp_path / "cache")}
    health_env = {k: env[k] for k in ("CSI_PORT", "CSI_ADDRESS")}
    assert _entry(home, "--health", env=health_env).returncode == 1  # nothing listens yet
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(ENTRY)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd="/")
    try:
        for _ in range(150):
            if proc.poll() is not None:
                break
            if _entry(home, "--health", env=health_env, timeout=10).returncode == 0:
                break
            time.sleep(0.4)
        else:
            pytest.fail("no healthy server: " + (tmp_path / "server.log").read_text()[-2000:])
        assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in cmdline and b"--server.headless" in cmdline  # exec'd: same pid, now streamlit
        environ = dict(x.split(b"=", 1) for x in Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0") if b"=" in x)
        assert environ[b"CSI_REQUIRE_AUTH"] == b"1" and environ[b"CSI_DB"] == str(db).encode()
        assert db.exists()
        log.flush()
        assert "sign-in password" in (tmp_path / "server.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert _entry(home, "--health", env=health_env).returncode == 1


# ------------------------------------------------------------------ Dockerfile / compose.yaml
def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_as_non_root_fails_closed_and_copies_what_exists():
    ins = _dockerfile()
    assert ins[0][0] == "FROM" and ins[0][1].startswith("python:3.11-slim")
    env = " ".join(v for k, v in ins if k == "ENV")
    assert "CSI_REQUIRE_AUTH=1" in env and "CSI_DB=/data/csi.duckdb" in env
    assert ("VOLUME", '["/data"]') in ins
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    # the last USER comes before the entry point and after every RUN (nothing runs as root at run time)
    last_user = max(i for i, (k, _) in enumerate(ins) if k == "USER")
    assert all(i < last_user for i, (k, _) in enumerate(ins) if k == "RUN")
    health = [v for k, v in ins if k == "HEALTHCHECK"]
    assert health and "/app/deploy/entrypoint.py" in health[0] and "--health" in health[0]
    assert [v for k, v in ins if k == "ENTRYPOINT"] == ['["python", "/app/deploy/entrypoint.py"]']
    assert any(k == "RUN" and "-r requirements.txt" in v for k, v in ins)
    for k, v in ins:
        if k == "COPY":
            *sources, _dest = shlex.split(v)
            for s in sources:
                assert (ROOT / s).exists(), s
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".streamlit/secrets.toml" in ignored and "data/" in ignored and ".git" in ignored


def test_compose_services_use_real_commands_and_files():
    yaml = pytest.importorskip("yaml")
    from csi.cli.main import build_parser

    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = doc["services"]
    assert set(svc) == {"dashboard", "ingest", "nginx"}
    dash = svc["dashboard"]
    assert dash["environment"]["CSI_REQUIRE_AUTH"] == "1" and dash["environment"]["CSI_ADDRESS"] == "127.0.0.1"
    assert "csi-data:/data" in dash["volumes"]
    assert dash["secrets"][0]["target"] == "/app/.streamlit/secrets.toml"
    # the ingest job's command is a valid ingest-inbox invocation of this CLI, in loop mode, on the same store
    cmd = svc["ingest"]["entrypoint"]
    assert cmd[:3] == ["python", "-m", "csi"]
    args = build_parser().parse_args(cmd[3:])
    assert args.command == "ingest-inbox" and args.handler == "csi.cli.inbox:run"
    assert str(args.db) == dash["environment"]["CSI_DB"] and args.every and args.every > 0
    assert "csi-data:/data" in svc["ingest"]["volumes"]
    nginx = svc["nginx"]
    assert nginx["network_mode"] == "service:dashboard"  # nginx.conf's upstream is 127.0.0.1:8501
    mounted = [v.split(":")[0] for v in nginx["volumes"]]
    assert "./deploy/nginx.conf" in mounted and (ROOT / "deploy" / "nginx.conf").is_file()
    assert "server 127.0.0.1:8501;" in (ROOT / "deploy" / "nginx.conf").read_text()


# ------------------------------------------------------------------ ingest-inbox
def _survey(path: Path, *, seed: int = 11, n: int = 150, prefix: str = "X", bad: bool = False) -> Path:
    from csi.data import demo

    df = demo.generate(seed).waves["2025Q4"].head(n).copy()
    df["respondent_id"] = [f"{prefix}-{i:05d}" for i in range(len(df))]
    text = df.astype(object).where(df.notna(), "").astype(str)
    if bad:
        text.loc[text.index[:3], "sat1"] = "42"  # outside the 1-10 scale
    text.to_csv(path, index=False)
    return path


def _inbox(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSI_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "csi", "ingest-inbox", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def _waves(db: Path) -> dict[str, int]:
    from csi.cli.inbox import wave_sizes

    return wave_sizes(db)


@pytest.fixture
def demo_db(tmp_path):
    """A store with one wave already in it (an empty store seeds the built-in dictionary)."""
    from csi.data import store
    from csi.data.ingest import ingest_into

    db = tmp_path / "csi.duckdb"
    with store.writing(db, action="create", fresh=True):
        pass
    ingest_into(db, _survey(tmp_path / "first.csv", seed=3, n=90, prefix="F"), "2025Q4")
    return db


def test_wave_label_from_file_name():
    from csi.cli.inbox import wave_from_name

    assert wave_from_name("survey_2026Q1.csv") == "2026Q1"
    assert wave_from_name("CSI 2026-q2 final.xlsx") == "2026Q2"
    assert wave_from_name("telecom_2026_H2.sav") == "2026H2"
    assert wave_from_name("export-2026-03.csv") == "2026-03"
    assert wave_from_name("export-2026-13.csv") is None  # no month 13
    assert wave_from_name("respondents_120261.csv") is None  # digits inside a longer number
    assert wave_from_name("notes.csv") is None
    assert wave_from_name("batch-B7.csv", r"batch-(?P<wave>B\d+)") == "B7"


def test_inbox_accepts_good_files_rejects_bad_ones_all_or_nothing(tmp_path, demo_db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    before = _waves(demo_db)
    _survey(inbox / "survey_2026Q1.csv", prefix="A", n=150)
    _survey(inbox / "upload.csv", prefix="B", n=120, seed=12)
    (inbox / "upload.json").write_text(json.dumps({"wave": "2026Q2", "scale": "1-10"}))
    _survey(inbox / "broken_2026Q3.csv", prefix="C", bad=True)
    _survey(inbox / "nolabel.csv", prefix="D")
    _survey(inbox / "typo.csv", prefix="E")
    (inbox / "typo.json").write_text(json.dumps({"wave": "2026Q4", "sclae": "1-10"}))
    (inbox / ".hidden_2027Q1.csv").write_text("x")
    (inbox / "readme.md").write_text("not a survey")

    r = _inbox(str(inbox), "--db", str(demo_db), "--settle", "0")
    assert r.returncode == 2, (r.stdout, r.stderr)  # some file was rejected
    after = _waves(demo_db)
    assert after == {**before, "2026Q1": 150, "2026Q2": 120}  # whole waves only; nothing of the rejected ones
    archive, failed = inbox / "archive", inbox / "failed"
    assert sorted(p.name for p in archive.iterdir()) == ["survey_2026Q1.csv", "upload.csv", "upload.json"]
    assert sorted(p.name for p in failed.iterdir()) == [
        "broken_2026Q3.csv", "broken_2026Q3.csv.reasons.txt", "nolabel.csv", "nolabel.csv.reasons.txt",
        "typo.csv", "typo.csv.reasons.txt", "typo.json"]
    broken = (failed / "broken_2026Q3.csv.reasons.txt").read_text()
    assert "nothing of it was written" in broken and "sat1" in broken and "error:" in broken
    assert "no wave label" in (failed / "nolabel.csv.reasons.txt").read_text()
    assert "sclae" in (failed / "typo.csv.reasons.txt").read_text()
    # untouched: hidden files and files ingest cannot read
    assert (inbox / ".hidden_2027Q1.csv").exists() and (inbox / "readme.md").exists()
    assert "accepted survey_2026Q1.csv" in r.stdout and "rejected broken_2026Q3.csv" in r.stdout
    assert str(tmp_path) not in r.stdout + r.stderr  # no server paths in the output

    # a fixed file dropped again is accepted; the same bytes under the stored label are only archived
    _survey(inbox / "broken_2026Q3.csv", prefix="C")
    (inbox / "survey_2026Q1.csv").write_bytes((archive / "survey_2026Q1.csv").read_bytes())
    r2 = _inbox(str(inbox), "--db", str(demo_db), "--settle", "0")
    assert r2.returncode == 0, (r2.stdout, r2.stderr)
    assert "already stored as wave '2026Q1'" in r2.stdout
    assert _waves(demo_db) == {**after, "2026Q3": 150}
    assert len([p for p in archive.iterdir() if p.name.startswith("survey_2026Q1")]) == 2  # kept, not overwritten


def test_same_bytes_under_another_label_are_rejected_not_archived(tmp_path, demo_db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _survey(inbox / "first_2026Q1.csv", prefix="A")
    assert _inbox(str(inbox), "--db", str(demo_db), "--settle", "0").returncode == 0
    (inbox / "again_2026Q2.csv").write_bytes((inbox / "archive" / "first_2026Q1.csv").read_bytes())
    r = _inbox(str(inbox), "--db", str(demo_db), "--settle", "0")
    assert r.returncode == 2 and (inbox / "failed" / "again_2026Q2.csv").exists(), r.stdout
    assert "2026Q2" not in _waves(demo_db)


def test_files_still_being_written_wait(tmp_path, demo_db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _survey(inbox / "fresh_2026Q1.csv")
    r = _inbox(str(inbox), "--db", str(demo_db), "--settle", "3600")
    assert r.returncode == 0 and "nothing to ingest" in r.stdout, r.stdout
    assert (inbox / "fresh_2026Q1.csv").exists() and "2026Q1" not in _waves(demo_db)


def test_loop_mode_is_bounded_and_picks_up_new_files(tmp_path, demo_db):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _survey(inbox / "loop_2026Q1.csv", prefix="L")
    r = _inbox(str(inbox), "--db", str(demo_db), "--settle", "0", "--every", "0.2", "--max-runs", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("accepted loop_2026Q1.csv") == 1
    assert _waves(demo_db)["2026Q1"] == 150


def test_second_run_on_a_locked_inbox_leaves_files_alone(tmp_path, demo_db):
    import fcntl

    from csi.cli.inbox import LOCK_NAME

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _survey(inbox / "held_2026Q1.csv")
    fd = os.open(inbox / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = _inbox(str(inbox), "--db", str(demo_db), "--settle", "0")
    finally:
        os.close(fd)
    assert r.returncode == 3 and "another ingest-inbox" in r.stdout, r.stdout
    assert (inbox / "held_2026Q1.csv").exists() and "2026Q1" not in _waves(demo_db)


def test_missing_inbox_is_an_error(tmp_path):
    r = _inbox(str(tmp_path / "nope"), "--db", str(tmp_path / "csi.duckdb"))
    assert r.returncode == 2 and "does not exist" in r.stderr
