"""The same CUR aggregation as geoplan's, in DuckDB: sum usage and cost per usage type
over a CSV, gzip CSV or Parquet file. Prints the median of 3 runs with one thread, then
with DuckDB's default threads, then DuckDB's version. Usage: cur_duckdb.py FILE"""
import statistics
import sys
import time

import duckdb

path = sys.argv[1]
if path.endswith(".parquet"):
    source = "read_parquet(?)"
    cols = ("line_item_usage_type", "line_item_usage_amount", "line_item_unblended_cost")
else:
    source = "read_csv(?, header = true)"
    cols = ('"lineItem/UsageType"', '"lineItem/UsageAmount"', '"lineItem/UnblendedCost"')
medians = []
for threads in (1, None):
    runs = []
    for _ in range(3):
        con = duckdb.connect()
        if threads:
            con.execute(f"SET threads = {threads}")
        t = time.perf_counter()
        con.execute(
            f"SELECT {cols[0]}, sum({cols[1]}), sum({cols[2]}), count(*) FROM {source} GROUP BY 1",
            [path],
        ).fetchall()
        runs.append(time.perf_counter() - t)
        con.close()
    medians.append(statistics.median(runs))
print(f"{medians[0]:.4f} {medians[1]:.4f} {duckdb.__version__}")
