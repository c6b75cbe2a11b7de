"""Write one OPRA day as DBN files (definition, statistics, cbbo-1m) with databento-dbn itself."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import databento_dbn as dbn

from pipeline.engine.timing import NEW_YORK

DATASET = "OPRA.PILLAR"
PUBLISHER = 30  # OPRA.PILLAR.OPRA


@dataclass(frozen=True)
class Option:
    """One OPRA contract of the test day: its OI and its quotes by New York minute."""

    raw_symbol: str  # OSI, root padded to 6: "SPXW  240105C04700000"
    underlying: str
    oi: int | None
    quotes: dict[time, tuple[float, float]]  # minute -> (bid, ask)

    @property
    def right(self) -> str:
        """Return C or P from the OSI id."""
        return self.raw_symbol[12]

    @property
    def strike(self) -> float:
        """Return the strike from the OSI id."""
        return int(self.raw_symbol[13:]) / 1000

    @property
    def expiration(self) -> date:
        """Return the expiry date from the OSI id."""
        return datetime.strptime(self.raw_symbol[6:12], "%y%m%d").date()


def osi(root: str, expiry: date, right: str, strike: float) -> str:
    """Return the padded OSI symbol OPRA uses (root padded to 6 characters)."""
    return f"{root:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


def _ns(moment: datetime) -> int:
    """Return a moment as UNIX nanoseconds."""
    return int(moment.timestamp()) * 10**9


def _metadata(schema: dbn.Schema, day: date) -> bytes:
    """Return the encoded metadata of a daily file (start at UTC midnight of `day`)."""
    start = _ns(datetime.combine(day, time(0), UTC))
    meta = dbn.Metadata(
        dataset=DATASET,
        start=start,
        stype_in=dbn.SType.from_str("raw_symbol"),
        stype_out=dbn.SType.from_str("instrument_id"),
        schema=schema,
        symbols=["ALL_SYMBOLS"],
        end=start + 86_400 * 10**9,
    )
    return bytes(meta)


def _definition(i: int, option: Option, day: date) -> bytes:
    """Return one encoded instrument definition."""
    moment = _ns(datetime.combine(day, time(0), UTC))
    expiry = _ns(datetime.combine(option.expiration, time(16), NEW_YORK))
    record = dbn.InstrumentDefMsg(
        publisher_id=PUBLISHER,
        instrument_id=i,
        ts_event=moment,
        ts_recv=moment,
        min_price_increment=10**7,
        display_factor=10**9,
        raw_symbol=option.raw_symbol,
        asset=option.raw_symbol[:6].strip(),
        security_type="OOF",
        instrument_class=dbn.InstrumentClass(option.right),
        security_update_action=dbn.SecurityUpdateAction.from_str("A"),
        expiration=expiry,
        strike_price=round(option.strike * 10**9),
        underlying=option.underlying,
        contract_multiplier=100,
    )
    return bytes(record)


def _open_interest(i: int, option: Option, day: date, previous: date) -> bytes:
    """Return one encoded OPEN_INTEREST statistic, received before the open of `day`."""
    received = _ns(datetime.combine(day, time(6, 30), NEW_YORK))
    record = dbn.StatMsg(
        publisher_id=PUBLISHER,
        instrument_id=i,
        ts_event=received,
        ts_recv=received,
        ts_ref=_ns(datetime.combine(previous, time(0), UTC)),
        price=dbn.UNDEF_PRICE,
        quantity=option.oi or 0,
        stat_type=dbn.StatType.from_int(9),
    )
    return bytes(record)


def _quote(i: int, moment: datetime, bid: float, ask: float) -> bytes:
    """Return one encoded cbbo-1m record at `moment`."""
    stamp = _ns(moment)
    pair = dbn.ConsolidatedBidAskPair(
        bid_px=round(bid * 10**9),
        ask_px=round(ask * 10**9),
        bid_sz=10,
        ask_sz=10,
        bid_pb=1,
        ask_pb=1,
    )
    record = dbn.CBBOMsg(
        rtype=dbn.RType.CBBO_1M,
        publisher_id=PUBLISHER,
        instrument_id=i,
        ts_event=stamp,
        price=dbn.UNDEF_PRICE,
        size=0,
        side=dbn.Side.from_str("N"),
        ts_recv=stamp,
        levels=pair,  # type: ignore[arg-type]  # the stub says a list; the class takes one pair
    )
    return bytes(record)


def write_day(folder: Path, day: date, options: list[Option], *, zstd: bool = False) -> list[Path]:
    """Write the day's definition, statistics and cbbo-1m files into `folder`; return them."""
    previous = day - timedelta(days=1 if day.weekday() else 3)
    defs = b"".join(_definition(i, o, day) for i, o in enumerate(options, 1))
    stats = b"".join(
        _open_interest(i, o, day, previous) for i, o in enumerate(options, 1) if o.oi is not None
    )
    quotes = [
        (datetime.combine(day, minute, NEW_YORK), i, bid, ask)
        for i, o in enumerate(options, 1)
        for minute, (bid, ask) in o.quotes.items()
    ]
    cbbo = b"".join(_quote(i, m, b, a) for m, i, b, a in sorted(quotes))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"opra-pillar-{day:%Y%m%d}"
    written = []
    for schema, body, name in (
        (dbn.Schema.from_str("definition"), defs, "definition"),
        (dbn.Schema.from_str("statistics"), stats, "statistics"),
        (dbn.Schema.from_str("cbbo-1m"), cbbo, "cbbo-1m"),
    ):
        data = _metadata(schema, day) + body
        path = folder / f"{stem}.{name}.dbn{'.zst' if zstd else ''}"
        path.write_bytes(_zstd(data) if zstd else data)
        written.append(path)
    return written


def _zstd(data: bytes) -> bytes:
    """Return DBN bytes zstd-compressed by databento-dbn's own transcoder."""
    out = io.BytesIO()
    coder = dbn.Transcoder(out, dbn.Encoding.from_str("dbn"), dbn.Compression.from_str("zstd"))
    coder.write(data)
    coder.flush()
    return out.getvalue()
