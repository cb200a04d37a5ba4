"""Memory a C library takes with malloc itself: libsqlite3's pages and
statements, an in-memory database filled and emptied (the `c` profile's
hooks on libsqlite3's GOT)."""
import sqlite3
import time

start = time.perf_counter()
cpu_start = time.process_time()  # every thread of the process
db = sqlite3.connect(":memory:")
db.execute("create table t (k integer primary key, b blob)")
blob = bytes(1000)
for _ in range(20):
    db.executemany("insert into t (b) values (?)",
                   ((blob,) for _ in range(20000)))
    db.execute("delete from t")
db.close()
print("elapsed %.6f" % (time.perf_counter() - start))
print("cpu %.6f" % (time.process_time() - cpu_start))
