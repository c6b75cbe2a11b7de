"""The perfiliev preset reproduces the published figures on the real CBOE files in refdata."""

from __future__ import annotations

import pytest

from pipeline.engine.presets import preset
from pipeline.engine.snapshot import ExposureSnapshot
from pipeline.sources.formats.quotedata import read_cboe

pytestmark = pytest.mark.refdata

# (file, overrides, total GEX in $Bn per 1% or None, flip) from ../shared/refdata/README.md.
PUBLISHED = [
    ("phammings-spx500-gamma/modules/spx_quotedata.csv", {}, -10.9987, 4734.4784),
    ("nickkxsper-index-gamma/spx_quotedata.csv", {"days_per_year": 252.0}, -17.4866, 3984.2495),
    ("luca-castelli-index-gamma/ndx_quotedata.csv", {"zero_dte": "drop"}, None, 14686.3297),
]


@pytest.mark.parametrize(("name", "overrides", "total", "flip"), PUBLISHED)
def test_published_figures(refdata, name, overrides, total, flip):
    snap = ExposureSnapshot(
        read_cboe(refdata / name), preset("perfiliev").with_overrides(**overrides)
    )
    if total is not None:
        assert snap.net["gex"] / 1e9 == pytest.approx(total, abs=5e-5)
    assert snap.flip.level == pytest.approx(flip, abs=5e-5)
    assert snap.flip.status == "available"


def test_ndx_further_crossings_and_first_crossing_choice(refdata):
    chain = read_cboe(refdata / "luca-castelli-index-gamma/ndx_quotedata.csv")
    snap = ExposureSnapshot(chain, preset("perfiliev").with_overrides(zero_dte="drop"))
    assert snap.flip.crossings == [
        pytest.approx(x, abs=5e-3) for x in (14686.33, 16170.99, 16357.79)
    ]


def test_one_day_zero_dte_differs_on_the_saturday_ndx_file(refdata):
    # Without dropping, Monday's expiry counts as one day and moves the flip.
    chain = read_cboe(refdata / "luca-castelli-index-gamma/ndx_quotedata.csv")
    kept = ExposureSnapshot(chain, preset("perfiliev")).flip.level
    assert kept != pytest.approx(14686.3297, abs=0.5)
