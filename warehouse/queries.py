"""Example queries people run every day; the README and `gammalake demo` show their output.

They read the derived views, which show the catalog's default method (dataset views such as
`snapshots` hold every method side by side).
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "regime by day": """
        SELECT symbol, trade_date, round(spot, 2) AS spot, round(gamma_flip, 2) AS flip,
               regime, round(pct_above_flip, 2) AS pct_above_flip, close
        FROM regime_daily ORDER BY trade_date DESC, symbol LIMIT 6""",
    "walls over time": """
        SELECT trade_date, put_wall, round(spot, 2) AS spot, call_wall,
               round(pct_to_put_wall, 2) AS pct_to_put, round(pct_to_call_wall, 2) AS pct_to_call
        FROM regime_daily WHERE symbol = 'SPY' ORDER BY trade_date DESC LIMIT 5""",
    "biggest OI changes": """
        SELECT symbol, strike, call_oi_change, put_oi_change, total_oi_change
        FROM oi_movers ORDER BY total_oi_change DESC LIMIT 5""",
    "GEX by expiry": """
        SELECT symbol, expiration, round(days_to_expiry, 1) AS dte,
               round(net_gex / 1e6, 1) AS net_gex_musd, round(pct_of_total_gex, 1) AS pct,
               top_strike
        FROM expiry_profile
        WHERE symbol = 'SPY'
        ORDER BY expiration LIMIT 6""",
    "methods stored": """
        SELECT symbol, source, method, count(*) AS snapshots, max(trade_date) AS last_session
        FROM snapshots GROUP BY ALL ORDER BY symbol, source, method""",
}
