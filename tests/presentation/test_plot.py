"""Front figures: check the data object, then that the HTML carries it and works offline."""

import os
import re
import struct
import sys

import numpy as np
import pandas as pd
import pytest
from _tables import big_sweep_frame, sweep_frame

from paretoprune.errors import InputError
from paretoprune.pareto import hypervolume
from paretoprune.presentation.plot import (
    MAX_HOVER_FIELDS,
    WEBGL_ABOVE,
    axis_range,
    chromium_path,
    default_view,
    format_value,
    front_plot_data,
    hover_data,
    hover_fields,
    plot_data,
    plot_figure,
    sample_rows,
    write_html,
    write_png,
)

A = pd.DataFrame({"weight": [0.0, 0.25, 0.5, 1.0, 0.4],
                  "loss": [0.1, 0.2, 0.4, 1.0, 0.9],
                  "l1": [1.0, 0.4, 0.2, 0.0, 0.8]})
B = pd.DataFrame({"weight": [0.0, 0.5, 1.0], "loss": [0.1, 0.6, 1.0], "l1": [1.0, 0.5, 0.0]})


def test_plot_data_front_knee_and_shared_hypervolume():
    data = front_plot_data({"a": A, "b": B})
    a, b = data.traces
    assert a.front["loss"].tolist() == [0.1, 0.2, 0.4, 1.0]  # sorted, dominated row 4 dropped
    assert a.rows["pareto"].tolist() == [True, True, True, True, False]
    assert a.dominated.index.tolist() == [4] and a.n_dominated == 1
    assert a.knee is not None and a.knee["loss"] in (0.2, 0.4)
    # shared normalization over both tables: ideal (0.1, 0), nadir (1.0, 1.0)
    assert data.normalization.ideal == pytest.approx((0.1, 0.0))
    norm = (A.loc[:3, ["loss", "l1"]].to_numpy() - [0.1, 0.0]) / [0.9, 1.0]
    assert a.hypervolume == pytest.approx(hypervolume(norm, (1.1, 1.1)))
    assert a.hypervolume > b.hypervolume  # A's front dominates B's middle point


def test_plot_data_skips_failed_rows():
    failed = A.assign(status=["ok", "failed", "ok", "ok", "ok"])
    failed.loc[1, ["loss", "l1"]] = np.nan
    (trace,) = front_plot_data({"a": failed}).traces
    assert 0.2 not in trace.front["loss"].tolist()
    assert trace.faded.empty  # a failed row without values cannot be drawn


def test_plot_data_of_a_maximized_objective():
    zoo = pd.DataFrame({"accuracy": [0.90, 0.95, 0.50, 0.80], "params": [10, 20, 30, 15]})
    (trace,) = front_plot_data({"zoo": zoo}, x="accuracy", y="params", sense=("max", "min")).traces
    assert trace.front["accuracy"].tolist() == [0.95, 0.90]  # best accuracy first
    assert sorted(trace.dominated.index) == [2, 3]
    fig = plot_figure(plot_data({"zoo": zoo}, view="objectives", x="accuracy", y="params",
                                sense=("max", "min")))
    assert fig.layout.xaxis.title.text == "accuracy (maximized)"
    assert fig.layout.yaxis.title.text == "params (minimized)"


def test_collapsed_and_failed_rows_are_faded_not_on_the_front():
    (trace,) = front_plot_data({"s": sweep_frame()}).traces
    assert 5 not in trace.front["run"].tolist()  # collapsed: (2.3, 0) would be on the front
    assert trace.faded["run"].tolist() == [5] and trace.n_faded == 1


def test_dominated_points_are_sampled_deterministically():
    big = big_sweep_frame(5000)
    first = plot_data({"big": big}, view="objectives", max_points=300).objectives.traces[0]
    again = plot_data({"big": big}, view="objectives", max_points=300).objectives.traces[0]
    assert len(first.dominated) == 300 and first.n_dominated > 4000
    assert first.dominated.index.tolist() == again.dominated.index.tolist()
    assert first.dominated.index.is_monotonic_increasing
    assert sample_rows(big.head(10), 300) is not None and len(sample_rows(big.head(10), 3)) == 3
    fig = plot_figure(plot_data({"big": big}, view="objectives", max_points=300))
    names = [t.name for t in fig.data]
    assert any(f"300 of {first.n_dominated:,} dominated points shown" in n for n in names)


def test_webgl_only_for_large_traces_and_never_for_a_static_picture():
    big = big_sweep_frame(3 * WEBGL_ABOVE)
    data = plot_data({"big": big}, view="both")
    kinds = {type(t).__name__ for t in plot_figure(data).data}
    assert kinds == {"Scatter", "Scattergl"}  # the cloud in WebGL, stars and small sets in SVG
    assert {type(t).__name__ for t in plot_figure(data, webgl=False).data} == {"Scatter"}


def test_default_view():
    assert default_view({"s": sweep_frame()}) == "both"
    assert default_view({"s": sweep_frame(), "a": A}) == "objectives"
    assert default_view({"a": A}) == "objectives"
    with pytest.raises(InputError, match="unknown view"):
        plot_data({"a": A}, view="side")


def test_hover_fields_are_few_and_meaningful():
    frame = sweep_frame()
    fields = hover_fields(frame, ("nnz", "val_acc"))
    assert fields[:3] == ["run", "role", "weight"]  # the method is the same in every row
    assert len(fields) <= MAX_HOVER_FIELDS
    wide = pd.DataFrame({f"c{i}": [i, i + 1] for i in range(30)} | {"const": [1, 1]})
    chosen = hover_fields(wide, ("c29",))
    assert len(chosen) == MAX_HOVER_FIELDS and chosen[0] == "c29" and "const" not in chosen


def test_hover_values_have_4_significant_digits_and_fit_a_narrow_window():
    assert format_value(0.123456) == "0.1235"
    assert format_value(44005) == "44005" and format_value(44005.0) == "44005"  # counts in full
    assert format_value(np.nan) == "" and format_value(True) == "True"
    assert format_value(10**401).endswith("…")
    rows = pd.DataFrame({"a_very_long_column_name_indeed": ["x" * 300], "n": [1.0 / 3]})
    custom, template = hover_data(rows, list(rows.columns))
    assert custom[0, 1] == "0.3333"
    # every hover line stays short: about 60 characters is about 420 px, inside 900 px
    lines = [line.split(": ")[0] + ": " + str(custom[0, j])
             for j, line in enumerate(template.split("<br>"))]
    assert max(len(line) for line in lines) <= 60


def test_the_html_hover_shows_the_chosen_fields():
    data = plot_data({"s": sweep_frame()}, view="objectives")
    fig = plot_figure(data, hover=["run", "loss"])
    front = next(t for t in fig.data if "front" in t.name)
    assert front.hovertemplate == "run: %{customdata[0]}<br>loss: %{customdata[1]}<extra></extra>"
    with pytest.raises(InputError, match="unknown column 'nope' for --hover"):
        plot_figure(data, hover=["nope"])


def test_color_by_a_categorical_or_a_numeric_column():
    frame = sweep_frame().assign(seed=["a", "b"] * 4)
    data = plot_data({"s": frame}, view="objectives")
    fig = plot_figure(data, color="seed")
    names = {t.name for t in fig.data if t.showlegend is not False}
    assert {"seed = a", "seed = b"} <= names
    fig = plot_figure(data, color="weight")
    assert fig.layout.coloraxis.colorbar.title.text == "weight"
    assert any(getattr(t.marker, "coloraxis", None) == "coloraxis" for t in fig.data)
    with pytest.raises(InputError, match="unknown column 'nope' for --color"):
        plot_figure(data, color="nope")


def test_log_axes_of_the_objective_view():
    fig = plot_figure(plot_data({"s": sweep_frame()}, view="objectives"), log_x=True, log_y=True)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_html_contains_the_data_and_no_external_script(tmp_path):
    data = plot_data({"first": A, "second": B}, view="objectives")
    path = write_html(plot_figure(data), tmp_path / "front.html")
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)  # plotly.js is inlined
    assert len(html) > 1_000_000 and "Plotly.newPlot" in html  # the bundle itself is in the page
    assert "first: l1 against loss front (HV" in html and "second: l1 against loss front (HV" in html
    assert "weight: %{customdata[0]}" in html  # the method's parameter comes first
    assert "knee (distance)" in html


def test_write_html_to_a_missing_folder(tmp_path):
    fig = plot_figure(plot_data({"a": A}, view="objectives"))
    with pytest.raises(InputError, match="does not exist"):
        write_html(fig, tmp_path / "nope" / "front.html")


def test_write_html_where_a_file_cannot_be_made(tmp_path):
    fig = plot_figure(plot_data({"a": A}, view="objectives"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write") as err:
        write_html(fig, blocker / "front.html")  # the "folder" is a file
    assert "\n" not in str(err.value)
    if os.path.isdir("/proc") and sys.platform.startswith("linux"):
        with pytest.raises(InputError, match="cannot write"):
            write_html(fig, "/proc/paretoprune-front.html")  # read-only even for root


FAKE_CHROMIUM = """#!{python}
import sys
for arg in sys.argv[1:]:
    if arg.startswith("--screenshot="):
        with open(arg.split("=", 1)[1], "wb") as fh:
            fh.write(b"\\x89PNG fake")
"""


def test_write_png_drives_a_headless_browser(tmp_path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text(FAKE_CHROMIUM.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PARETOPRUNE_CHROMIUM", str(fake))
    assert chromium_path() == str(fake)
    out = write_png(plot_figure(plot_data({"a": A}, view="objectives")), tmp_path / "front.png")
    assert out.read_bytes() == b"\x89PNG fake"


def test_write_png_without_a_browser_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("PARETOPRUNE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="apt-get install chromium") as err:
        write_png(plot_figure(plot_data({"a": A}, view="objectives")), tmp_path / "front.png")
    assert "\n" not in str(err.value)


def test_write_png_when_the_browser_fails(tmp_path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('boom\\nmore')\nsys.exit(3)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PARETOPRUNE_CHROMIUM", str(fake))
    with pytest.raises(InputError, match="exited with 3: boom$"):
        write_png(plot_figure(plot_data({"a": A}, view="objectives")), tmp_path / "front.png")


@pytest.mark.skipif(chromium_path() is None and not os.environ.get("PARETOPRUNE_REQUIRE_CHROMIUM"),
                    reason="no headless Chromium on this machine (CI installs one and sets "
                           "PARETOPRUNE_REQUIRE_CHROMIUM: it runs there)")
def test_write_png_with_a_real_browser_has_the_figure_size(tmp_path, monkeypatch):
    monkeypatch.delenv("PARETOPRUNE_CHROMIUM", raising=False)
    fig = plot_figure(plot_data({"s": sweep_frame()}, view="decision"), webgl=False)
    out = write_png(fig, tmp_path / "front.png", width=640, height=400)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (640, 400)  # IHDR: no blank area added


def test_a_very_long_front_is_drawn_through_evenly_spaced_points():
    t = np.linspace(0.0, 1.0, 1001)
    line = pd.DataFrame({"loss": t, "l1": 1.0 - t})  # every point on the front
    (trace,) = plot_data({"line": line}, view="objectives", max_points=100).objectives.traces
    assert len(trace.front) == 1001 and len(trace.shown_front) == 100
    assert trace.shown_front["loss"].iloc[[0, -1]].tolist() == [0.0, 1.0]  # both ends kept
    # the whole front: the box 1.1 x 1.1 less the triangle below the line (0.5)
    assert trace.hypervolume == pytest.approx(1.21 - 0.5, abs=1e-3)
    fig = plot_figure(plot_data({"line": line}, view="objectives", max_points=100))
    assert any("100 of 1,001 front points shown" in t.name for t in fig.data)


def test_usable_points_set_the_objective_axes_and_collapsed_ones_sit_on_the_edge():
    from _tables import sweep_frame

    data = plot_data({"s": sweep_frame()}, view="objectives")
    o = data.objectives
    # usable loss .01 .. 1.0 (run 7), l1 .03 .. 1.0; the collapsed run 5 has loss 2.3, l1 0
    assert o.x_span == (0.01, 1.0) and o.y_span == (0.03, 1.0)
    fig = plot_figure(data)
    assert tuple(fig.layout.xaxis.range) == pytest.approx((0.01 - 0.0792, 1.0 + 0.0792))
    faded = next(t for t in fig.data if "collapsed or failed" in t.name)
    assert list(faded.x) == pytest.approx([1.0792]) and list(faded.y) == [0.0]  # l1 0 fits
    assert "off the axis: at its edge" in faded.name
    log = plot_figure(data, log_x=True)  # a log axis: its range in log10 units
    assert tuple(log.layout.xaxis.range) == pytest.approx((-2 - 0.16, 0 + 0.16))


def test_axis_range_edge_cases():
    assert axis_range(None) is None
    assert axis_range((0.0, 1.0), log=True) is None  # a log axis has no 0: it fits itself
    assert axis_range((2.0, 2.0))[0] == pytest.approx((2 - 0.16, 2 + 0.16))
    assert axis_range((0.5, 0.5), least_width=0.01)[0] == pytest.approx((0.4992, 0.5008))
