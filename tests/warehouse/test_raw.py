"""The raw archive keeps payloads as received and never a secret."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from warehouse.errors import WarehouseInputError
from warehouse.raw import RawArchive, scrub

KEY = "fa_live_9f8e7d6c5b4a"
WHEN = datetime(2024, 3, 1, 21, 15, tzinfo=UTC)


def test_scrub_drops_secret_fields_and_masks_query_parameters():
    request = {
        "url": f"https://lab.flashalpha.com/v1/exposure/gex/SPY?apikey={KEY}&expiration=2024-03-15",
        "headers": {"X-Api-Key": KEY, "Accept": "application/json"},
        "status": 200,
        "note": f"retried with {KEY}",
    }
    clean = scrub(request, secrets=[KEY])
    assert clean["headers"] == {"Accept": "application/json"}
    assert clean["url"].endswith("?apikey=***&expiration=2024-03-15")
    assert KEY not in str(clean)


def test_put_and_read_back_without_the_key(tmp_path):
    raw = RawArchive(tmp_path)
    payload = {"symbol": "SPY", "net_gex": 1.5, "unknown_new_field": {"kept": True}}
    path = raw.put(
        source="flashalpha",
        endpoint="gex",
        symbol="SPY",
        as_of=WHEN,
        payload=payload,
        request={"X-Api-Key": KEY, "status": 200},
        secrets=[KEY],
    )
    assert path.relative_to(tmp_path).as_posix() == (
        "raw/flashalpha/gex/symbol=SPY/20240301/20240301T211500000000Z.json.gz"
    )
    assert KEY.encode() not in gzip.decompress(path.read_bytes())
    [env] = list(raw.envelopes())
    assert env.payload == payload and env.request == {"status": 200} and env.as_of == WHEN


def test_a_body_that_is_not_json_is_kept_as_text(tmp_path):
    raw = RawArchive(tmp_path)
    raw.put(
        source="flashalpha",
        endpoint="gex",
        symbol="SPY",
        as_of=WHEN,
        payload='{"symbol": "SPY", "net_g',
    )
    assert next(raw.envelopes()).payload == '{"symbol": "SPY", "net_g'


@pytest.mark.parametrize(
    ("field", "value"), [("symbol", "../../etc"), ("source", "a/b"), ("endpoint", "../x")]
)
def test_names_are_validated_before_any_path_is_built(tmp_path, field, value):
    args = {
        "source": "flashalpha",
        "endpoint": "gex",
        "symbol": "SPY",
        "as_of": WHEN,
        "payload": {},
        field: value,
    }
    with pytest.raises(WarehouseInputError):
        RawArchive(tmp_path).put(**args)
    assert not (tmp_path / "raw").exists()


def test_an_input_chain_is_kept_as_received_and_can_be_marked_refused(tmp_path):
    import polars as pl

    from warehouse.raw import read_input, rejected

    frame = pl.DataFrame({"strike": [110.0, 90.0], "right": ["C", "P"], "open_interest": [5, 7]})
    raw = RawArchive(tmp_path)
    path = raw.put_input(
        source="chains", symbol="SPY", as_of=WHEN, spot=100.5, origin="SPY.csv", frame=frame
    )
    assert path.relative_to(tmp_path).as_posix() == (
        "raw/chains/chain/symbol=SPY/20240301/20240301T211500000000Z.parquet"
    )
    kept = read_input(path)
    assert kept.frame.equals(frame) and (kept.spot, kept.as_of, kept.origin) == (
        100.5,
        WHEN,
        "SPY.csv",
    )
    assert list(raw.inputs()) == [path] and rejected(path) is None
    raw.reject(path, f"symbol is QQQ (key {KEY})", secrets=[KEY])
    assert list(raw.inputs()) == [] and list(raw.inputs(include_rejected=True)) == [path]
    assert rejected(path) == "symbol is QQQ (key ***)"
    assert raw.snapshot_files("chains", "SPY", WHEN) == []
