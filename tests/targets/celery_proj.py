"""A celery app (`celery -A celery_proj worker`) whose broker is a
directory (kombu's filesystem transport: no broker service), and whose
results go to files: $CELERY_PROJ_DIR holds both. One task,
celery_task_work (busy 0.3 s in pure Python, returns the pid of the
pool worker that ran it).

test_tree.py records `celery -A celery_proj worker --pool prefork -c 2`
and sends it tasks with celery_client.py; the profile has the master
and both pool workers, celery_task_work under each worker's process
frame.
"""
import os
import time

from celery import Celery

DIR = os.environ["CELERY_PROJ_DIR"]
for sub in ("queue", "processed", "results"):
    os.makedirs(os.path.join(DIR, sub), exist_ok=True)

app = Celery("celery_proj")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": os.path.join(DIR, "queue"),
        "data_folder_out": os.path.join(DIR, "queue"),
        "processed_folder": os.path.join(DIR, "processed"),
        "store_processed": False,
        "polling_interval": 0.05,
    },
    result_backend="file://" + os.path.join(DIR, "results"),
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    task_acks_late=False,
)


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@app.task
def celery_task_work(i):
    busy(0.3)
    return os.getpid()
