"""A gunicorn configuration (`-c gunicorn_http_conf.py`) as the README's
operators section advises: each worker serves the HTTP endpoint on a unix
socket of its own, $SW_TEST_SOCK_DIR/sw-PID.sock, from the post_fork
hook.

The test blocks a worker's hub (gunicorn_app's /block) and expects that
worker's /threads to answer meanwhile with block_hub on the stack.
"""
import os


def post_fork(server, worker):
    import stackwatch

    stackwatch.serve("unix:%s/sw-%d.sock"
                     % (os.environ["SW_TEST_SOCK_DIR"], os.getpid()))
