"""gammalake warehouse layer: table schemas, the Parquet lake, the raw archive, the DuckDB catalog.

Imports nothing else of gammalake: it stores rows, it does not know where they came from beyond
the `source` column.
"""
