"""`go tool pprof` (Debian's golang-go), the real consumer of the pprof
output: `needs_go` skips a test where go is not installed; `pprof(tmp,
*args)` runs it (its cache and home in tmp) and returns its stdout."""

import os
import shutil
import subprocess

import pytest

needs_go = pytest.mark.skipif(shutil.which("go") is None,
                              reason="go (golang-go) is not installed")


def pprof(tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path), PPROF_TMPDIR=str(tmp_path))
    proc = subprocess.run(["go", "tool", "pprof"] + list(args),
                          capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
