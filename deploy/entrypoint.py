"""Entry point of the container image: check the configuration, migrate the store, start Streamlit.

    python deploy/entrypoint.py            # the image's ENTRYPOINT: checks, migrates, execs streamlit
    python deploy/entrypoint.py --check    # checks only (no file is written); prints the settings as JSON
    python deploy/entrypoint.py --print-command   # checks and migrates, prints the command instead of exec
    python deploy/entrypoint.py --health   # the HEALTHCHECK: 0 when /_stcore/health answers "ok"

Steps (each failure prints one line "entrypoint: refused: ..." and exits 2, before anything listens):

1. **Settings** from the environment: ``CSI_DB`` (default ``/data/csi.duckdb``), ``CSI_REQUIRE_AUTH``
   (the image sets 1), ``CSI_PORT`` (8501), ``CSI_ADDRESS`` (0.0.0.0: the container's own interface;
   publish the port on the host's loopback or an internal network only, see ``compose.yaml``),
   ``CSI_BASE_PATH`` (``server.baseUrlPath``, empty), ``CSI_DEMO`` (1: build the demo store when the
   database file is absent; otherwise an empty store is created).
2. **Secrets**, read the way the app reads them (``app.auth.load_secrets``: Streamlit's
   ``secrets.files`` locations, in the image ``/app/.streamlit/secrets.toml``), checked with the app's
   own rules (``app.auth.config_problem`` and ``oidc_problem``: placeholder or weak keys, plain-text
   passwords, bad limits). With ``CSI_REQUIRE_AUTH=1`` a configuration with no users (the "open" demo
   mode) is refused, and so is an unreadable secrets file.
3. **Store**: the parent folder of ``CSI_DB`` must be writable (the volume); ``csi.data.store.connect``
   opens it read-write once, which applies pending migrations (``csi.data.store.migrate``), then closes.
4. **Streamlit**: ``exec`` of ``python -m streamlit run /app/streamlit_app.py`` with explicit
   ``--server.address``, ``--server.port``, ``--server.headless true``, ``--browser.gatherUsageStats false``,
   ``--server.fileWatcherType none``, ``--server.runOnSave false``, ``--global.developmentMode false``;
   extra arguments after ``--`` are appended.

Nothing here changes the app's behaviour: the app enforces the same rules again on every run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (python deploy/entrypoint.py): the repo is the import root
    sys.path.insert(0, str(ROOT))

DEFAULTS = {"CSI_DB": "/data/csi.duckdb", "CSI_REQUIRE_AUTH": "1", "CSI_PORT": "8501", "CSI_ADDRESS": "0.0.0.0",
            "CSI_BASE_PATH": "", "CSI_DEMO": "0"}
EXIT_REFUSED = 2


class Refused(Exception):
    """The configuration is unfit to serve: the message says what to fix (no secret values)."""


def _flag(value: str, name: str) -> bool:
    v = (value or "").strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise Refused(f"{name} must be 1 or 0, got {value!r}")


def settings(env: dict | None = None) -> dict:
    """The deployment settings from ``env`` (default ``os.environ``) with the image's defaults."""
    env = os.environ if env is None else env
    s = {k: env.get(k, d) for k, d in DEFAULTS.items()}
    try:
        port = int(s["CSI_PORT"])
    except ValueError:
        raise Refused(f"CSI_PORT must be a port number, got {s['CSI_PORT']!r}") from None
    if not 1 <= port <= 65535:
        raise Refused(f"CSI_PORT must be between 1 and 65535, got {port}")
    if not s["CSI_DB"]:
        raise Refused("CSI_DB is empty: set it to the database file on the data volume (e.g. /data/csi.duckdb)")
    return {"db": os.path.abspath(s["CSI_DB"]),  # not resolve(): the path is a symlink to the current version
            "require_auth": _flag(s["CSI_REQUIRE_AUTH"], "CSI_REQUIRE_AUTH"),
            "port": port, "address": s["CSI_ADDRESS"].strip() or "0.0.0.0",
            "base_path": s["CSI_BASE_PATH"].strip().strip("/"), "demo": _flag(s["CSI_DEMO"], "CSI_DEMO")}


def check_secrets(require_auth: bool) -> str:
    """The sign-in mode the app will use; :class:`Refused` when the app would refuse to start."""
    from app import auth
    from csi.text.i18n import t

    try:
        secrets = auth.load_secrets()
    except auth.SecretsBroken:
        raise Refused("the secrets file exists but does not parse as TOML; fix .streamlit/secrets.toml "
                      "(the app would show only a configuration message)") from None
    mode = auth.auth_mode(secrets)
    if mode == "open":
        if require_auth:
            raise Refused("CSI_REQUIRE_AUTH=1 and no users are configured: mount a secrets file with "
                          "[credentials.usernames] (bcrypt hashes) or an [auth] (OIDC) section at "
                          "/app/.streamlit/secrets.toml; see docs/DEPLOY.md, 'Secrets'")
        return mode
    problem = auth.oidc_problem(secrets) if mode == "oidc" else auth.config_problem(secrets)
    if problem:
        key, fields = problem
        raise Refused(f"secrets: {t(key, 'en', **fields)}")
    if mode == "oidc":
        sec = secrets.get("auth") or {}
        missing = [k for k in ("redirect_uri", "cookie_secret") if not sec.get(k)]
        if missing:
            raise Refused(f"secrets: [auth] needs {', '.join(missing)} for st.login (OIDC)")
        import importlib.util

        if importlib.util.find_spec("authlib") is None:  # st.login fails at the first sign-in without it
            raise Refused("OIDC sign-in ([auth]) needs the Authlib package, which requirements.txt does not "
                          "install: add Authlib>=1.3.2 to the image (docs/DEPLOY.md, 'Sign-in with OIDC')")
    return mode


def check_store_folder(db: str) -> None:
    folder = Path(db).parent
    if not folder.is_dir():
        raise Refused(f"the data folder {folder} does not exist: mount the data volume there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise Refused(f"the data folder {folder} is not writable by uid {os.getuid()}: "
                      "chown the volume to the image's user (csi, uid 10001)")


def prepare_store(db: str, demo: bool) -> str:
    """Create (empty, or the demo with ``CSI_DEMO=1``) or migrate the store; returns what was done.

    Writes go through ``csi.data.store.writing`` (the one write path: bounded writers' lock, audited,
    published atomically), which migrates the copy it writes (``csi.data.store.migrate``). A store already
    at the current schema is only opened read-only, so a restart adds no version and no audit entry."""
    from csi.data import store
    from csi.errors import StoreError

    path = Path(db)
    if not path.exists():
        if demo:
            from csi.data.demo import build_demo_database

            build_demo_database(path, actor=store.default_actor())
            return "built the demo store"
        with store.writing(path, action="create", detail={"by": "entrypoint"}, fresh=True):
            pass
        return f"created an empty store (schema version {store.SCHEMA_VERSION})"
    try:
        con = store.connect(path, read_only=True)
    except StoreError:  # too old to read (or a legacy file): the write below migrates it or says why not
        before = 0
    else:
        try:
            before = store._schema_version(con)
        finally:
            con.close()
    if before >= store.SCHEMA_VERSION:
        return f"store is current (schema version {before})"
    with store.writing(path, action="migrate", detail={"from_schema": before, "by": "entrypoint"}):
        pass
    return f"migrated store (schema version {before} -> {store.SCHEMA_VERSION})"


def streamlit_command(s: dict, extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
           "--server.address", s["address"], "--server.port", str(s["port"]),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--server.runOnSave", "false",
           "--global.developmentMode", "false"]
    if s["base_path"]:
        cmd += ["--server.baseUrlPath", s["base_path"]]
    return cmd + list(extra or [])


def health(env: dict | None = None, timeout: float = 4.0) -> int:
    """0 when ``http://127.0.0.1:CSI_PORT/[CSI_BASE_PATH/]_stcore/health`` answers ``ok``, else 1."""
    import urllib.request

    try:
        s = settings(env)
    except Refused as e:
        print(f"unhealthy: {e}", file=sys.stderr)
        return 1
    host = "127.0.0.1" if s["address"] in ("0.0.0.0", "::", "") else s["address"]
    base = f"/{s['base_path']}" if s["base_path"] else ""
    url = f"http://{host}:{s['port']}{base}/_stcore/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            ok = r.status == 200 and r.read().strip() == b"ok"
    except OSError as e:
        print(f"unhealthy: {type(e).__name__}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="entrypoint", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="check the configuration only; print it as JSON")
    mode.add_argument("--print-command", action="store_true", help="check and migrate; print the command, do not exec")
    mode.add_argument("--health", action="store_true",
                      help="the image's HEALTHCHECK: exit 0 when Streamlit's /_stcore/health answers ok")
    args = p.parse_args(argv)
    if args.health:
        return health()
    try:
        s = settings()  # a relative CSI_DB is taken from the caller's working folder
        os.chdir(ROOT)  # Streamlit finds .streamlit/config.toml and secrets.toml in the working folder
        auth_mode = check_secrets(s["require_auth"])
        check_store_folder(s["db"])
        done = None if args.check else prepare_store(s["db"], s["demo"])
    except Refused as e:
        print(f"entrypoint: refused: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as e:  # noqa: BLE001 - a store that cannot be opened, a bug: one line, no secrets
        from csi.errors import public_message

        print(f"entrypoint: refused: {type(e).__name__}: {public_message(e)}", file=sys.stderr)
        return EXIT_REFUSED
    cmd = streamlit_command(s, extra)
    env = {"CSI_DB": s["db"], "CSI_REQUIRE_AUTH": "1" if s["require_auth"] else "0"}
    if args.check or args.print_command:
        print(json.dumps({"settings": s, "auth_mode": auth_mode, "store": done, "env": env, "command": cmd},
                         indent=2))
        return 0
    print(f"entrypoint: sign-in {auth_mode}; {done}; starting streamlit on {s['address']}:{s['port']}",
          file=sys.stderr, flush=True)
    os.environ.update(env)  # this process becomes streamlit: the app reads the same settings
    os.execv(sys.executable, cmd)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
