"""Start-up cost (issue 12, item 15): ``import stackwatch`` and the
environment's autostart load only what the path in use needs. Not timing
based: which modules a child process has loaded, against plain python's."""

from typing import List, Set

import pytest

from conftest import child_env, run_target

#: Costly standard-library modules that ``import stackwatch`` must not load.
HEAVY = ["inspect", "tempfile", "socket", "zipfile", "json", "argparse",
         "importlib.resources", "ast", "dis", "datetime", "random",
         "asyncio"]


def loaded(what: str, **env: str) -> List[str]:
    proc = run_target("imports_loaded", what, env=child_env(**env),
                      check=True)
    return proc.stdout.splitlines()


@pytest.fixture(scope="module")
def baseline() -> Set[str]:
    return set(loaded("nothing"))


def added(names: List[str], baseline: Set[str]) -> Set[str]:
    return set(names) - baseline


def test_import_stackwatch_loads_no_heavy_module(baseline):
    new = added(loaded("import"), baseline)
    assert "stackwatch._native" in new
    assert sorted(new & set(HEAVY + ["typing"])) == []
    # Nor does it load the package's own modules until they are used.
    assert sorted(n for n in new if n.startswith("stackwatch.")) == [
        "stackwatch._lifecycle", "stackwatch._native", "stackwatch._versions"]


def test_import_stackwatch_loads_nothing_more_at_exit():
    assert "service loaded at exit: False" in loaded("import")


def test_public_names_still_load_on_use(baseline):
    names = loaded("names")
    assert "dumping enabled: False" in names
    for module in ("stackwatch.profiler", "stackwatch.monitor",
                   "stackwatch.runinfo", "stackwatch.deadlines",
                   "stackwatch.events", "stackwatch.slowlog"):
        assert module in names


def test_public_names_and_dir(baseline):
    import stackwatch

    assert set(stackwatch.__all__) <= set(dir(stackwatch))
    from stackwatch import Profiler, FailedToSwitch  # noqa: F401

    assert stackwatch.Profiler is Profiler
    assert stackwatch.monitor.start is not None
    assert stackwatch.format_run_info is stackwatch.runinfo.format_run_info
    with pytest.raises(AttributeError):
        stackwatch.no_such_name
    with pytest.raises(ImportError):
        from stackwatch import no_such_name  # noqa: F401


def test_dump_autostart_loads_only_what_dumps_need(baseline):
    names = loaded("nothing", STACKWATCH_DUMP="1")
    assert "dumping enabled: True" in names
    new = added(names, baseline)
    # Nothing of HEAVY (the registration file and the dumps' JSON are
    # written without json: test_startup.py), nor typing or traceback (on
    # 3.14 they load annotationlib, ast, inspect and dis; on 3.15 typing
    # loads ast).
    assert sorted(new & set(HEAVY + ["typing", "traceback"])) == []


def test_monitor_autostart_loads_no_cli_or_file_modules(baseline):
    new = added(loaded("nothing", STACKWATCH_MONITOR="1"), baseline)
    assert "stackwatch.monitor" in new
    # (asyncio, with inspect, socket, ast and dis, is what watching the
    # asyncio loops needs.)
    assert sorted(new & {"tempfile", "zipfile", "argparse",
                         "importlib.resources", "datetime", "random"}) == []


@pytest.mark.parametrize("kind", ["zip", "zip without __main__", "source"])
def test_record_runs_a_zip_application_as_python_does(tmp_path, kind):
    # The runner tells a zip application from a script with zipimport
    # (loaded by every python) instead of importing zipfile.
    import subprocess
    import sys
    import zipfile

    from conftest import run_cli, target_path

    app = tmp_path / "app.pyz"
    if kind == "source":
        app.write_text(open(target_path("zipapp_main")).read())
    else:
        with zipfile.ZipFile(str(app), "w") as z:
            z.write(target_path("zipapp_main"), "__main__.py"
                    if kind == "zip" else "other.py")
    python = subprocess.run([sys.executable, str(app)], capture_output=True,
                            text=True, env=child_env(), timeout=60)
    out = tmp_path / "out.txt"
    ours = run_cli("record", "-f", "collapsed", "-o", str(out), str(app))
    assert ours.returncode == python.returncode
    assert ours.stdout == python.stdout
    if kind == "zip":
        assert "ends with /app.pyz" in ours.stdout
    if kind == "zip without __main__":
        assert python.returncode == 1
        assert "can't find '__main__' module" in ours.stderr


def test_exit_steps_still_run_after_the_applications_atexit_handlers():
    # Names load on first use, but the exit handler is still registered by
    # `import stackwatch`, before the application's own.
    proc = run_target("imports_atexit_order", check=True)
    assert "at exit the profiler is running: True" in proc.stdout
