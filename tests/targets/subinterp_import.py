"""Imports stackwatch in the main interpreter, then tries to import
stackwatch._native in a legacy subinterpreter (_testcapi.run_in_subinterp),
then uses the main interpreter's module again.

Prints, in order:
  "sub: refused: <ImportError message>"   (or "sub: loaded" if it was not)
  "sub rc: <return code of run_in_subinterp>"
  "main: <python version>"                 (the main module still works)
The test expects the refusal, naming subinterpreters.
"""
import _testcapi

from stackwatch import _native

SUB = """
try:
    import stackwatch._native
except ImportError as e:
    print("sub: refused:", e, flush=True)
else:
    print("sub: loaded", flush=True)
"""

print("sub rc:", _testcapi.run_in_subinterp(SUB), flush=True)
print("main:", _native.info()["python"], flush=True)
