-- Derived views over the dataset views. Each block starts with "-- view: NAME needs: A, B"
-- and is created only when the datasets it needs have files. Paths in dataset views are
-- relative to $GAMMALAKE_HOME (DuckDB's file_search_path), so a moved home folder still works.

-- view: daily_levels needs: snapshots
-- The last snapshot of each symbol, source and NYSE session.
CREATE OR REPLACE VIEW daily_levels AS
SELECT *
FROM snapshots
QUALIFY row_number() OVER (PARTITION BY symbol, source, trade_date ORDER BY as_of DESC) = 1;

-- view: prices_daily needs: prices
-- One bar per symbol and session: a full bar (open, high, low) before a close-only one (DIX.csv
-- has closes only), then the first source by name.
CREATE OR REPLACE VIEW prices_daily AS
SELECT *
FROM prices
QUALIFY row_number() OVER (
    PARTITION BY symbol, trade_date
    ORDER BY (open IS NULL OR high IS NULL OR low IS NULL), source
) = 1;

-- view: prices_daily needs: snapshots
-- No price bars stored yet: the same columns, no rows.
CREATE OR REPLACE VIEW prices_daily AS
SELECT NULL::VARCHAR AS symbol, NULL::VARCHAR AS source, NULL::TIMESTAMPTZ AS as_of,
       NULL::DATE AS trade_date, NULL::DOUBLE AS open, NULL::DOUBLE AS high,
       NULL::DOUBLE AS low, NULL::DOUBLE AS close, NULL::DOUBLE AS volume
WHERE false;

-- view: regime_daily needs: snapshots, prices_daily
-- Spot against the flip and the walls per session, with that session's price bar.
CREATE OR REPLACE VIEW regime_daily AS
SELECT d.symbol, d.source, d.trade_date, d.as_of,
       d.underlying_price AS spot, d.gamma_flip, d.regime,
       100 * (d.underlying_price - d.gamma_flip) / d.underlying_price AS pct_above_flip,
       d.call_wall, d.put_wall,
       100 * (d.call_wall - d.underlying_price) / d.underlying_price AS pct_to_call_wall,
       100 * (d.underlying_price - d.put_wall) / d.underlying_price AS pct_to_put_wall,
       d.net_gex, d.net_gex_label, d.net_dex, d.net_vex, d.net_chex,
       p.open, p.high, p.low, p.close, p.volume, p.source AS price_source
FROM daily_levels AS d
LEFT JOIN prices_daily AS p ON p.symbol = d.symbol AND p.trade_date = d.trade_date;

-- view: gex_profile needs: strikes
-- Every strike of the latest snapshot of each symbol and source.
CREATE OR REPLACE VIEW gex_profile AS
SELECT s.*
FROM strikes AS s
JOIN (SELECT symbol, source, max(as_of) AS as_of FROM strikes GROUP BY symbol, source) AS l
  USING (symbol, source, as_of);

-- view: oi_movers needs: strikes
-- Strikes of the latest snapshot ranked by day-over-day open interest change.
CREATE OR REPLACE VIEW oi_movers AS
SELECT symbol, source, as_of, trade_date, strike, call_oi_change, put_oi_change,
       abs(coalesce(call_oi_change, 0)) + abs(coalesce(put_oi_change, 0)) AS total_oi_change,
       call_oi, put_oi, net_gex
FROM gex_profile
WHERE call_oi_change IS NOT NULL OR put_oi_change IS NOT NULL;
