-- Derived views over the dataset views. Each block starts with "-- view: NAME needs: A, B"
-- and is created only when the datasets it needs have files. Paths in dataset views are
-- relative to $GAMMALAKE_HOME (DuckDB's file_search_path), so a moved home folder still works.
--
-- Windows partition by every column a query filters on (symbol, trade_date), so DuckDB pushes
-- such a filter below the window into the Parquet scan: a day's cross-section reads one day's
-- row groups instead of ranking ten years of every symbol.
--
-- Methods: dataset views (snapshots, strikes, ...) hold every method's rows. The method_* views
-- keep the catalog's default method (catalog.json): `vendor` rows and rows whose recipe (the
-- method without its "@vN") is the default's, and of those, per symbol, source and session,
-- only the rows of the newest engine version present that day. Per session, not per as_of:
-- engine v2 stamps a daily snapshot at the close (16:00) where v1 stamped the fetch (16:15),
-- so both versions of one day must not show. warehouse.catalog fills in {keep} (that filter),
-- {recipe} (the recipe expression: vendor rows never hide engine rows) and {lineage}:
-- ", method" when no default method is known, so every method is kept and no row is counted
-- twice.

-- view: method_snapshots needs: snapshots
-- Snapshots of the default method: of each session, the newest engine version's.
CREATE OR REPLACE VIEW method_snapshots AS
SELECT *
FROM snapshots
WHERE {keep}
QUALIFY rank() OVER (
    PARTITION BY symbol, source, trade_date, {recipe}{lineage}
    ORDER BY coalesce(TRY_CAST(regexp_extract(method, '@v([0-9]+)$', 1) AS INTEGER), 0) DESC
) = 1;

-- view: method_strikes needs: strikes
-- Strikes of the default method's snapshots (every strike of the one chosen method).
CREATE OR REPLACE VIEW method_strikes AS
SELECT *
FROM strikes
WHERE {keep}
QUALIFY rank() OVER (
    PARTITION BY symbol, source, trade_date, {recipe}{lineage}
    ORDER BY coalesce(TRY_CAST(regexp_extract(method, '@v([0-9]+)$', 1) AS INTEGER), 0) DESC
) = 1;

-- view: method_expiries needs: expiries
-- Expiries of the default method's snapshots.
CREATE OR REPLACE VIEW method_expiries AS
SELECT *
FROM expiries
WHERE {keep}
QUALIFY rank() OVER (
    PARTITION BY symbol, source, trade_date, {recipe}{lineage}
    ORDER BY coalesce(TRY_CAST(regexp_extract(method, '@v([0-9]+)$', 1) AS INTEGER), 0) DESC
) = 1;

-- view: daily_levels needs: method_snapshots
-- The last snapshot of each symbol, source and NYSE session.
CREATE OR REPLACE VIEW daily_levels AS
SELECT *
FROM method_snapshots
QUALIFY row_number() OVER (
    PARTITION BY symbol, source{lineage}, trade_date ORDER BY as_of DESC
) = 1;

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

-- view: regime_daily needs: daily_levels, prices_daily
-- Spot against the flip and the walls per session, with that session's price bar.
CREATE OR REPLACE VIEW regime_daily AS
SELECT d.symbol, d.source, d.method, d.trade_date, d.as_of,
       d.underlying_price AS spot, d.gamma_flip, d.regime,
       100 * (d.underlying_price - d.gamma_flip) / d.underlying_price AS pct_above_flip,
       d.call_wall, d.put_wall,
       100 * (d.call_wall - d.underlying_price) / d.underlying_price AS pct_to_call_wall,
       100 * (d.underlying_price - d.put_wall) / d.underlying_price AS pct_to_put_wall,
       d.net_gex, d.net_gex_label, d.net_dex, d.net_vex, d.net_chex,
       p.open, p.high, p.low, p.close, p.volume, p.source AS price_source
FROM daily_levels AS d
LEFT JOIN prices_daily AS p ON p.symbol = d.symbol AND p.trade_date = d.trade_date;

-- view: gex_profile needs: method_strikes
-- Every strike of the latest snapshot of each symbol and source.
CREATE OR REPLACE VIEW gex_profile AS
SELECT s.*
FROM method_strikes AS s
JOIN (
    SELECT symbol, source{lineage}, max(as_of) AS as_of
    FROM method_strikes
    GROUP BY symbol, source{lineage}
) AS l USING (symbol, source{lineage}, as_of);

-- view: expiry_profile needs: method_expiries
-- Every expiry of the latest snapshot of each symbol and source.
CREATE OR REPLACE VIEW expiry_profile AS
SELECT e.*
FROM method_expiries AS e
JOIN (
    SELECT symbol, source{lineage}, max(as_of) AS as_of
    FROM method_expiries
    GROUP BY symbol, source{lineage}
) AS l USING (symbol, source{lineage}, as_of);

-- view: oi_movers needs: gex_profile
-- Strikes of the latest snapshot ranked by day-over-day open interest change.
CREATE OR REPLACE VIEW oi_movers AS
SELECT symbol, source, method, as_of, trade_date, strike, call_oi_change, put_oi_change,
       abs(coalesce(call_oi_change, 0)) + abs(coalesce(put_oi_change, 0)) AS total_oi_change,
       call_oi, put_oi, net_gex
FROM gex_profile
WHERE call_oi_change IS NOT NULL OR put_oi_change IS NOT NULL;
