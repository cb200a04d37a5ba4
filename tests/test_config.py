"""stackwatch._config: the one reader of STACKWATCH_* variables."""

import os
import re

import pytest

from stackwatch import _config

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "src", "stackwatch")


def test_every_variable_the_code_names_is_in_the_table():
    names = {v.name for v in _config.VARIABLES}
    used = set()
    for fn in os.listdir(SRC):
        if fn.endswith(".py"):
            with open(os.path.join(SRC, fn)) as f:
                used |= set(re.findall(r"STACKWATCH_[A-Z_]+", f.read()))
    assert used and used <= names, used - names
    for v in _config.VARIABLES:
        assert v.type and v.doc, v


def test_only_config_reads_the_environment():
    readers = []
    for fn in sorted(os.listdir(SRC)):
        if fn.endswith(".py"):
            with open(os.path.join(SRC, fn)) as f:
                text = f.read()
            if re.search(r"os\.environ|getenv\(", text):
                readers.append(fn)
    # The pattern finds the one reader (so it would find another).
    assert readers == ["_config.py"], readers


def test_text_strips_and_blank_is_none(monkeypatch):
    monkeypatch.setenv("STACKWATCH_INTERVAL", "  0.5 ")
    assert _config.text("STACKWATCH_INTERVAL") == "0.5"
    monkeypatch.setenv("STACKWATCH_INTERVAL", "   ")
    assert _config.text("STACKWATCH_INTERVAL") is None
    monkeypatch.delenv("STACKWATCH_INTERVAL")
    assert _config.text("STACKWATCH_INTERVAL") is None


@pytest.mark.parametrize("value,expected", [
    ("1", True), ("yes", True), ("ON", True), ("", False), ("0", False),
    ("no", False), ("False", False), (" off ", False)])
def test_flag(monkeypatch, value, expected):
    monkeypatch.setenv("STACKWATCH_DUMP", value)
    assert _config.flag("STACKWATCH_DUMP") is expected


def test_flag_unset_is_false(monkeypatch):
    monkeypatch.delenv("STACKWATCH_MONITOR", raising=False)
    assert _config.flag("STACKWATCH_MONITOR") is False


def test_items_and_off(monkeypatch):
    monkeypatch.setenv("STACKWATCH_REDACT", " ssn, ,pin-code,")
    assert _config.items("STACKWATCH_REDACT") == ("ssn", "pin-code")
    assert _config.is_off("Off") and _config.is_off(" none ")
    assert not _config.is_off(None) and not _config.is_off("0.1")


def test_unknown_variable_is_refused():
    with pytest.raises(KeyError, match="STACKWATCH_NOPE"):
        _config.text("STACKWATCH_NOPE")


def test_readers_take_their_values_from_config(monkeypatch):
    from stackwatch import _saferepr, dumping, monitor, slowlog

    monkeypatch.setenv("STACKWATCH_REDACT", "ssn")
    assert "ssn" in _saferepr.redact_patterns()
    assert "password" in _saferepr.redact_patterns()
    monkeypatch.setenv("STACKWATCH_INTERVAL", " 2.5 ")
    assert slowlog.interval_setting() == 2.5
    monkeypatch.setenv("STACKWATCH_RUNTIME_DIR", "/tmp/sw-x")
    assert dumping.runtime_dir() == "/tmp/sw-x"
    monkeypatch.setenv("STACKWATCH_MAX_BLOCKING_TIME", "off")
    monkeypatch.setenv("STACKWATCH_MAX_MEMORY_USAGE", "2KiB")
    monkeypatch.setenv("STACKWATCH_MEMORY_MONITOR_PERIOD", "3")
    assert monitor._resolve(monitor._UNSET, monitor._UNSET,
                            monitor._UNSET) == (None, 2048, 3.0)
    monkeypatch.setenv("STACKWATCH_MAX_BLOCKING_TIME", "soon")
    with pytest.raises(ValueError, match="STACKWATCH_MAX_BLOCKING_TIME"):
        monitor._resolve(monitor._UNSET, monitor._UNSET, monitor._UNSET)
