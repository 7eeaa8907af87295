"""The same CUR aggregation as geoplan's, in DuckDB: sum usage and cost per usage
type over a CSV file. Prints the median of 3 runs with DuckDB's default threads and
with one thread. Usage: cur_duckdb.py FILE"""
import statistics
import sys
import time

import duckdb

path = sys.argv[1]
for threads in (None, 1):
    runs = []
    for _ in range(3):
        con = duckdb.connect()
        if threads:
            con.execute(f"SET threads = {threads}")
        t = time.perf_counter()
        rows = con.execute(
            'SELECT "lineItem/UsageType", sum("lineItem/UsageAmount"), sum("lineItem/UnblendedCost"), count(*) '
            "FROM read_csv(?, header = true) GROUP BY 1",
            [path],
        ).fetchall()
        runs.append(time.perf_counter() - t)
        used = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.close()
    print(f"DuckDB {duckdb.__version__} ({used} threads): median {statistics.median(runs):.2f} s, {len(rows)} usage types")
