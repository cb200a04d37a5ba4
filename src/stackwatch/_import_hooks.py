"""Calling a function when the program imports a module: how stackwatch
patches gevent's hub, tracks greenlets and watches asyncio loops only in a
program that imports gevent, greenlet or asyncio itself (``stackwatch
run`` must not load them into a program that does not).

:func:`when_imported` calls the function at once when the module is
loaded already; otherwise a ``sys.meta_path`` finder (first in the list,
present only while something waits) finds the module with the finders
after it and wraps its loader's ``exec_module``, so the function runs in
the importing thread right after the module's code, before the import
statement returns.
"""

import sys

#: module name -> the functions waiting for it, in order.
_waiting: "dict[str, list]" = {}


def when_imported(name: str, fn: object) -> None:
    """Calls fn(module) once module `name` is imported: now if it is. A
    function already waiting for `name` is not added twice. fn must not
    raise (an exception is reported on stderr)."""
    fns = _waiting.setdefault(name, [])
    if fn not in fns:
        fns.append(fn)
    module = sys.modules.get(name)
    if module is not None:
        _imported(name, module)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def cancel(name: str, fn: object) -> None:
    """fn no longer waits for `name`."""
    fns = _waiting.get(name)
    if fns is not None and fn in fns:
        fns.remove(fn)
        if not fns:
            _waiting.pop(name, None)
    if not _waiting:
        _remove_finder()


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not isinstance(f, _Finder)]


def _imported(name: str, module: object) -> None:
    fns = _waiting.pop(name, None)
    if not _waiting:
        _remove_finder()
    for fn in fns or ():
        try:
            fn(module)  # type: ignore[operator]
        except Exception:
            from stackwatch import _service

            _service.report("after importing %s" % name)


class _Finder:  # a sys.meta_path finder (without importlib.abc's cost)
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> object:
        if fullname not in _waiting:
            return None
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if isinstance(finder, _Finder) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        # A class (the built-in and frozen importers) is every module's
        # loader: never patched.
        if loader is None or isinstance(loader, type) or not hasattr(
                loader, "exec_module"):
            return spec
        exec_orig = loader.exec_module

        def exec_module(module: object) -> None:
            exec_orig(module)
            _imported(fullname, module)

        loader.exec_module = exec_module
        return spec
