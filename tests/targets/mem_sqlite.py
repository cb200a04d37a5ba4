"""A thread named csqlite puts 16 MiB of blobs in an in-memory sqlite3
database and keeps it (libsqlite3 takes its pages with malloc: memory
the `c` profile counts).  Run under `stackwatch mem record`."""
import sqlite3
import threading

kept = []


def sqlite_pages():
    db = sqlite3.connect(":memory:")
    db.execute("create table t (b blob)")
    db.executemany("insert into t values (?)",
                   ((bytes(4096),) for _ in range(4096)))
    db.commit()
    kept.append(db)


t = threading.Thread(target=sqlite_pages, name="csqlite")
t.start()
t.join()
