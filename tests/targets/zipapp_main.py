"""The __main__.py of a zip application (tests/test_imports.py puts it in
a zip): says where it runs from."""

import sys

print("zipapp main, sys.path[0] ends with %s" % sys.path[0][-8:])
