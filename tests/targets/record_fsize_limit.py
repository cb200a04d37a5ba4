"""Limits the size of any file the process writes to 64 bytes
(RLIMIT_FSIZE, which binds root too), then prints "limited".

The test expects writing the profile to fail and the previous file to be
left whole.
"""
import resource

resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
print("limited")
