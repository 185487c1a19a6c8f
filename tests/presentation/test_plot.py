"""Front figures: check the data object, then that the HTML carries it and works offline."""

import re

import numpy as np
import pandas as pd
import pytest

from paretoprune.errors import InputError
from paretoprune.pareto import hypervolume
from paretoprune.presentation.plot import front_figure, front_plot_data, write_html

A = pd.DataFrame({"weight": [0.0, 0.25, 0.5, 1.0, 0.4],
                  "loss": [0.1, 0.2, 0.4, 1.0, 0.9],
                  "l1": [1.0, 0.4, 0.2, 0.0, 0.8]})
B = pd.DataFrame({"weight": [0.0, 0.5, 1.0], "loss": [0.1, 0.6, 1.0], "l1": [1.0, 0.5, 0.0]})


def test_plot_data_front_knee_and_shared_hypervolume():
    data = front_plot_data({"a": A, "b": B})
    a, b = data.traces
    assert a.front["loss"].tolist() == [0.1, 0.2, 0.4, 1.0]  # sorted, dominated row 4 dropped
    assert a.rows["pareto"].tolist() == [True, True, True, True, False]
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


def test_html_contains_the_data_and_no_external_script(tmp_path):
    data = front_plot_data({"first": A, "second": B})
    path = write_html(front_figure(data), tmp_path / "front.html")
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)  # plotly.js is inlined
    assert len(html) > 1_000_000 and "Plotly.newPlot" in html  # the bundle itself is in the page
    assert "first (HV" in html and "second (HV" in html
    assert "weight: %{customdata[0]}" in html  # hover lists every column
    assert "knee (distance)" in html


def test_write_html_to_a_missing_folder(tmp_path):
    fig = front_figure(front_plot_data({"a": A}))
    with pytest.raises(InputError, match="does not exist"):
        write_html(fig, tmp_path / "nope" / "front.html")
