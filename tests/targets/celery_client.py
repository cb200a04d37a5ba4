"""Sends celery_proj's celery_task_work to the worker, 4 at a time,
until two different pool workers have run it (at most 10 rounds), and
prints the pids of the workers that ran it on one line.
"""
import celery_proj

seen = set()
for _ in range(10):
    results = [celery_proj.celery_task_work.delay(i) for i in range(4)]
    seen.update(r.get(timeout=60, interval=0.05) for r in results)
    if len(seen) >= 2:
        break
print(" ".join(str(p) for p in sorted(seen)), flush=True)
