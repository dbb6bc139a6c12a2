"""The dashboard's per-process caches that make a cached run cheap (issue 9): they must be keyed correctly and
hand out nothing a session could change for the others. No timings here (bench/bench_app_runs.py prints them).

* app.charts: the template set without re-validation gives the same figure as plotly's own way; FrozenFigure
  hands out copies and refuses changes;
* app.state.shared / shared_figure: keyed on the identity of the shared objects and on the plain values
  (language, construct, ...), copied out, errors not memoised, emptied by a new data version;
* the Overview under AppTest: another language, selection or data version shows other figures; the same one
  the very same (shared) figures;
* app.state.data_version: a newly published version is seen at once; a version file's counter is read once.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import charts, state  # noqa: E402

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")


def _trend_frame(waves=("2025Q1", "2025Q2", "2025Q3")):
    rows = [(w, c, 60 + i + j, 58 + i + j, 62 + i + j) for i, w in enumerate(waves)
            for j, c in enumerate(("QUAL", "SAT", "LOY"))]
    return pd.DataFrame(rows, columns=["wave", "construct", "index", "ci_low", "ci_high"])


def _plain(fig) -> dict:
    """A figure as plain JSON values (key order and numpy types do not matter)."""
    return json.loads(pio.to_json(fig.to_dict(), validate=False))


# ------------------------------------------------------------------ charts
def test_layout_matches_plotlys_own_template_handling():
    """_layout sets the template without plotly's re-validation: the figure must equal the one plotly builds
    the ordinary way (validated template by name, the same title, font, margins, legend)."""
    from plotly.io.json import to_json_plotly

    fig = charts.trend_chart(_trend_frame(), "en", title="Index <b>by</b> wave")
    ref = go.Figure(fig.to_dict())  # the same traces and axes ...
    ref.layout = go.Layout(xaxis=fig.layout.xaxis, yaxis=fig.layout.yaxis)
    ref.update_layout(title=dict(text="Index &lt;b&gt;by&lt;/b&gt; wave", x=0, xanchor="left", font=dict(size=16)),
                      height=420, font=dict(family=charts.FONT), margin=dict(l=10, r=10, t=50, b=100),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), template="plotly_white")
    assert _plain(fig) == _plain(ref)
    assert _plain(fig)["layout"]["template"] == json.loads(to_json_plotly(pio.templates["plotly_white"].to_plotly_json()))


def test_a_figures_template_is_its_own_copy():
    before = pio.templates["plotly_white"].to_plotly_json()
    fig = charts.bands_chart(pd.DataFrame({"label_en": ["a", "b"], "label_zh": ["甲", "乙"], "share": [0.4, 0.6]}),
                             "en", title="t")
    fig.layout.template.layout.font.size = 99  # a page changing its figure's template
    assert pio.templates["plotly_white"].to_plotly_json() == before
    assert fig.layout._validate  # validation is back on for everything the chart code sets later
    with pytest.raises(ValueError):
        fig.update_layout(height="tall")


def test_frozen_figure_hands_out_copies_and_refuses_changes():
    fig = charts.trend_chart(_trend_frame(), "zh")
    frozen = charts.FrozenFigure(fig)
    assert _plain(frozen) == _plain(fig)
    d = frozen.to_dict()
    d["layout"]["title"]["text"] = "changed"
    d["data"].clear()
    assert frozen.to_dict() == fig.to_dict()  # the shared spec is untouched
    # what st.plotly_chart does with it: plotly's figure-or-data coercion, then to_json (which pops uids)
    import plotly.tools

    spec = plotly.tools.return_figure_from_figure_or_data(frozen, validate_figure=True)
    assert json.loads(pio.to_json(spec, validate=False)) == _plain(fig)
    assert frozen.to_dict() == fig.to_dict()
    with pytest.raises(AttributeError):
        frozen.layout = go.Layout()
    copy_ = frozen.figure()
    copy_.update_layout(height=111)
    assert frozen.to_dict()["layout"]["height"] == 420
    assert frozen == charts.FrozenFigure(fig) and frozen != charts.FrozenFigure(charts.trend_chart(_trend_frame(), "en"))


# ------------------------------------------------------------------ the shared memo
def test_shared_is_keyed_on_identity_and_plain_values_and_copies_out():
    calls = []

    def compute(tag):
        def f():
            calls.append(tag)
            return {"rows": [1, 2], "tag": tag}
        return f

    prep, fits = object(), {"w": 1}
    a = state.shared("t_view", (prep, fits), compute("en"), "en")
    a["rows"].append(3)  # a page changing what it was given
    b = state.shared("t_view", (prep, fits), compute("en"), "en")
    assert b == {"rows": [1, 2], "tag": "en"} and calls == ["en"]
    state.shared("t_view", (prep, fits), compute("zh"), "zh")  # another language: computed
    state.shared("t_view", (prep, {"w": 1}), compute("en2"), "en")  # an equal but other fits object: computed
    state.shared("t_other", (prep, fits), compute("other"), "en")  # another view of the same objects
    assert calls == ["en", "zh", "en2", "other"]
    with pytest.raises(TypeError):
        state.shared("t_view", (prep,), compute("x"), ["unhashable"])
    # a tuple of frames (the Drivers page's cIPMA tables) is copied item by item
    nca, bn = state.shared("t_pair", (prep,), lambda: (pd.DataFrame({"d": [0.1]}), pd.DataFrame({"r": [1]})))
    nca["extra"] = 1
    assert list(state.shared("t_pair", (prep,), lambda: None)[0].columns) == ["d"]


def test_shared_figure_is_frozen_and_shared_errors_are_not_memoised():
    built = []

    def build():
        built.append(1)
        return charts.trend_chart(_trend_frame(), "en")

    prep = object()
    f1 = state.shared_figure("t_trend", (prep,), build, "en")
    f2 = state.shared_figure("t_trend", (prep,), build, "en")
    assert isinstance(f1, charts.FrozenFigure) and f1 is f2 and len(built) == 1
    from csi.errors import DataError

    def bad():
        built.append("bad")
        raise DataError("too few")

    for _ in range(2):
        with pytest.raises(DataError):
            state.shared_figure("t_bad", (prep,), bad, "en")
    assert built.count("bad") == 2


def test_a_new_data_version_empties_the_shared_views():
    calls = []
    prep = object()

    def f():
        calls.append(1)
        return 1

    state.supersede_old_versions("/nowhere/speed.duckdb", "v1")
    state.shared("t_v", (prep,), f)
    state.supersede_old_versions("/nowhere/speed.duckdb", "v1")  # same version: kept
    state.shared("t_v", (prep,), f)
    assert len(calls) == 1
    state.supersede_old_versions("/nowhere/speed.duckdb", "v2")
    state.shared("t_v", (prep,), f)
    assert len(calls) == 2


def test_the_memos_are_bounded():
    prep = object()
    for k in range(state._VIEWS_MAX + 10):
        state.shared("t_bound", (prep,), lambda: k, k)
    assert len(state._VIEWS.entries) <= state._VIEWS_MAX


def test_the_least_recently_used_entry_goes_first():
    memo, prep, calls = state._IdentityMemo(3), object(), []

    def f(k):
        return lambda: calls.append(k) or k

    for k in (1, 2, 3):
        memo.get(("t", k), (prep,), f(k))
    memo.get(("t", 1), (prep,), f(1))          # used again: now the most recent
    memo.get(("t", 4), (prep,), f(4))          # evicts 2, the least recently used (first-in would evict 1)
    assert calls == [1, 2, 3, 4]
    memo.get(("t", 1), (prep,), f(1))
    memo.get(("t", 2), (prep,), f(2))
    assert calls == [1, 2, 3, 4, 2] and memo.stats() == "2/5/0"


def test_single_flight_one_session_computes_the_others_wait_for_it():
    import threading

    memo, prep = state._IdentityMemo(8), object()
    started, release, calls, got = threading.Event(), threading.Event(), [], []

    def slow():
        calls.append(threading.get_ident())
        started.set()
        release.wait(10)
        return {"value": 42}

    first = threading.Thread(target=lambda: got.append(memo.get(("t", "x"), (prep,), slow)))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=lambda: got.append(memo.get(("t", "x"), (prep,), slow))) for _ in range(5)]
    for th in others:
        th.start()
    import time as _time

    deadline = _time.monotonic() + 10
    while memo.waits < 5 and _time.monotonic() < deadline:  # all five are waiting for the first one's result
        _time.sleep(0.01)
    assert memo.waits == 5
    release.set()
    for th in [first, *others]:
        th.join(10)
    assert len(calls) == 1 and got == [{"value": 42}] * 6


def test_single_flight_a_failed_computation_is_not_shared():
    import threading

    memo, prep = state._IdentityMemo(8), object()
    started, release, outcomes = threading.Event(), threading.Event(), []

    def failing():
        started.set()
        release.wait(10)
        raise ValueError("boom")

    def run(fn):
        try:
            outcomes.append(memo.get(("t", "y"), (prep,), fn))
        except ValueError as e:
            outcomes.append(str(e))

    first = threading.Thread(target=run, args=(failing,))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=run, args=(lambda: "computed again",))
    second.start()
    import time as _time

    deadline = _time.monotonic() + 10
    while memo.waits < 1 and _time.monotonic() < deadline:
        _time.sleep(0.01)
    release.set()
    first.join(10), second.join(10)
    assert sorted(outcomes) == ["boom", "computed again"]  # the waiter computed itself; nothing was memoised
    assert memo.get(("t", "y"), (prep,), lambda: "fresh") == "fresh"


# ------------------------------------------------------------------ the overview under AppTest
@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("speeddb") / "csi.duckdb", 150, waves=3)


@pytest.fixture()
def app_db(small_db, tmp_path, monkeypatch):
    from conftest import app_environment, clear_streamlit_caches

    # a private copy, as the other app tests; point estimates only: no background jobs
    yield app_environment(monkeypatch, tmp_path, copy_of=small_db, bootstrap=0, clear=True).db
    clear_streamlit_caches()


def _charts(at: AppTest) -> dict[str, dict]:
    """The overview's plotly specs by chart key (as the browser receives them)."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        out[title] = spec
    return out


def _trend(specs: dict[str, dict]) -> dict:
    return next(s for s in specs.values() if s["layout"].get("xaxis", {}).get("categoryarray"))


def test_overview_figures_follow_language_selection_and_data_version(app_db):
    from csi.data import demo, store
    from csi.data.ingest import ingest_frame

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    en = _charts(at)
    assert len(en) >= 3
    again = AppTest.from_file(APP, default_timeout=180)  # another session, same selection: the same figures
    again.run()
    assert _charts(again) == en
    # another language: every figure rebuilt in Chinese
    at.session_state["lang"] = "zh"
    at.run()
    zh = _charts(at)
    assert not set(zh) & set(en)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in title) for title in zh)
    # another selection (fewer waves): another trend
    at.session_state["lang"] = "en"
    at.run()
    waves = list(at.sidebar.multiselect(key="f_waves").value)
    at.sidebar.multiselect(key="f_waves").set_value(waves[1:]).run()
    assert _trend(_charts(at))["layout"]["xaxis"]["categoryarray"] == waves[1:]
    at.sidebar.multiselect(key="f_waves").set_value(waves).run()
    assert _charts(at) == en
    # a new data version (a CLI ingest publishes a wave): the new wave joins the selection and the trend
    survey = demo.generate(20240601)
    df = survey.waves["2025Q4"].head(150).copy()
    df["respondent_id"] = [f"S-{i:04d}" for i in range(len(df))]
    raw = df.astype(object).where(df.notna(), "").astype(str)
    with store.writing(app_db, actor="test", action="ingest") as con:
        ingest_frame(con, raw, wave="2027Q1", source_name="speed.csv")
    at.run()
    assert not at.exception
    assert _trend(_charts(at))["layout"]["xaxis"]["categoryarray"] == waves + ["2027Q1"]


def test_data_version_sees_a_new_published_version(app_db):
    from csi.data import store

    path = str(app_db)
    with store.writing(app_db, actor="test", action="settings") as con:  # the store becomes versioned
        store.set_setting(con, "speed_test", "1")
    v1 = state.data_version(path)
    assert state.data_version(path) == v1
    assert str(store.version_file(path)) in state._DATA_VERSIONS
    with store.writing(app_db, actor="test", action="settings") as con:
        store.set_setting(con, "speed_test", "2")
    v2 = state.data_version(path)
    assert int(v2) > int(v1)
    with state.reading(path) as con:
        assert str(store.data_version(con)) == v2
