"""The lake: Parquet files partitioned by table and event date, catalogued in DuckDB."""
