"""The heartbeat thread: a failing beat is logged with its exception and retried, never fatal to the thread."""

from __future__ import annotations

import logging

import pytest

from eos_core.store import Heartbeat, RunStore

INTERVAL_S = 0.02


class FlakyBeat:
    """A ``beat`` that raises on its first ``failures`` calls, then renews (True) until call ``stop_after``."""

    def __init__(self, failures: int, stop_after: int) -> None:
        self.failures, self.stop_after = failures, stop_after
        self.calls = 0

    def __call__(self, run_id: str) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(28, "No space left on device")
        if self.calls >= self.stop_after:
            return False  # the run ended: the heartbeat drops it
        return True


def test_a_failing_beat_is_logged_once_with_its_exception_and_the_thread_keeps_beating(caplog) -> None:
    beat = FlakyBeat(failures=3, stop_after=6)
    hb = Heartbeat(INTERVAL_S, beat)
    with caplog.at_level(logging.INFO, logger="eos_core.store._heartbeat"):
        hb.add("20260101-000000-abcdef")
        thread = hb.thread
        assert thread is not None
        thread.join(5.0)  # it ends by itself once its last run is dropped
    assert not thread.is_alive() and hb.thread is None
    assert beat.calls == 6  # three failures, then beats until the run ends: the thread survived
    assert not hb.owns("20260101-000000-abcdef")
    records = [r for r in caplog.records if r.name == "eos_core.store._heartbeat"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", f"The heartbeat of run 20260101-000000-abcdef failed; retrying every {INTERVAL_S:.3g} s "
                    "(other processes see the run interrupted if it keeps failing)."),
        ("INFO", "The heartbeat of run 20260101-000000-abcdef works again."),
    ]
    exc = records[0].exc_info[1]
    assert isinstance(exc, OSError) and exc.strerror == "No space left on device"


def test_a_bad_heartbeat_setting_is_named_and_the_default_used(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("EOS_HEARTBEAT_S", "fast")
    with caplog.at_level(logging.WARNING, logger="eos_core.store._store"):
        store = RunStore(tmp_path)
    assert store.heartbeat_s == 5.0
    assert [r.getMessage() for r in caplog.records] == [
        "EOS_HEARTBEAT_S='fast' is not a number of seconds; the heartbeat beats every 5 s."]


@pytest.mark.parametrize("value", ["0.5", "0"])
def test_a_good_heartbeat_setting_logs_nothing(tmp_path, monkeypatch, caplog, value) -> None:
    monkeypatch.setenv("EOS_HEARTBEAT_S", value)
    with caplog.at_level(logging.DEBUG, logger="eos_core.store"):
        store = RunStore(tmp_path)
    assert store.heartbeat_s == max(0.05, float(value))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
