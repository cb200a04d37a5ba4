"""On-demand profiles: the engine (csrc/ondemand.c, a second sampler
instance) and `stackwatch record --pid`."""
import json

from conftest import run_target

from stackwatch import _forks


def test_engine_profiles_while_the_program_records_its_own(tmp_path):
    out = tmp_path / "part"
    proc = run_target("ondemand_engine", "50", "200", str(out), check=True)
    res = json.loads(proc.stdout)
    # The on-demand profile: its own session, at its own rate, in the part
    # format the fork merge reads back.
    assert res["magic"] == _forks.MAGIC
    part = _forks.read_part(str(out))
    assert part is not None and part[1], proc.stderr
    assert "od_hot_function" in res["od_leaves"]
    assert "od-worker" in res["od_threads"]
    od = res["od_stats"]
    assert od["rate"] == 200 and od["early"] is False
    assert od["samples"] > 0 and od["passes"] > 0
    assert od["effective_rate"] > 0
    # At most one at a time: the second request is told so.
    assert res["second"] is not None and "busy" in res["second"]
    # One stopped early says so.
    assert res["early"]["early"] is True
    # The program's own profile is undisturbed: its passes are its own
    # sampler's (a session fed by both samplers would have 50 + 200 a
    # second), and it holds the same hot function.
    own = res["own"]
    assert own["passes"] <= 50 * own["sampling_seconds"] * 1.2 + 2, own
    assert own["effective_rate"] <= 50 * 1.2, own
    assert "od_hot_function" in res["own_functions"]
