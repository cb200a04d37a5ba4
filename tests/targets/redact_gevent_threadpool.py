"""Child of tests/test_redaction.py: gevent's threadpool runs one task,
then its worker thread waits for the next one in ThreadPool._worker,
whose local task_queue_cookie is an int; prints run info with locals.

The test expects the worker's task_queue_cookie shown, not redacted.
"""
import gevent
import gevent.threadpool

import stackwatch

pool = gevent.threadpool.ThreadPool(1)
pool.spawn(sum, range(10)).get()
gevent.sleep(0.2)  # the worker is back waiting for a task
print(stackwatch.format_run_info(locals=True))
pool.kill()
