"""platform/deferred.py: work the answer need not wait for runs after it where a runtime opened
`after_answer()`, and at once everywhere else — never skipped."""

from __future__ import annotations

import logging

import pytest
from molecule_core.platform import deferred


def test_without_a_runtime_that_answers_first_deferred_work_runs_at_once() -> None:
    done: list[str] = []
    deferred.defer(lambda: done.append("record"))
    assert done == ["record"]


def test_inside_after_answer_work_waits_for_the_end_of_the_block_and_keeps_its_order() -> None:
    done: list[str] = []
    with deferred.after_answer():
        deferred.defer(lambda: done.append("first"))
        deferred.defer(lambda: done.append("second"))
        done.append("answer sent")
    assert done == ["answer sent", "first", "second"]


def test_last_work_runs_after_all_other_work_even_work_deferred_after_it() -> None:
    done: list[str] = []
    with deferred.after_answer():
        deferred.defer(lambda: done.append("receipt"))
        deferred.defer(lambda: done.append("publish metrics"), last=True)
        deferred.defer(lambda: done.append("a stream's receipt, once relayed"))
    assert done == ["receipt", "a stream's receipt, once relayed", "publish metrics"]

    deferred.defer(lambda: done.append("at once"), last=True)  # outside a block: at once, as any work
    assert done[-1] == "at once"


def test_work_deferred_by_deferred_work_runs_at_once() -> None:
    done: list[str] = []
    with deferred.after_answer():
        deferred.defer(lambda: deferred.defer(lambda: done.append("inner")))
        assert done == []
    assert done == ["inner"]


def test_a_failing_unit_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("database gone")

    with caplog.at_level(logging.ERROR), deferred.after_answer():
        deferred.defer(broken)
        deferred.defer(lambda: done.append("after"))
    assert done == ["after"]
    assert "deferred work failed" in caplog.text


def test_work_runs_even_when_the_answer_failed() -> None:
    done: list[str] = []
    with pytest.raises(ValueError), deferred.after_answer():
        deferred.defer(lambda: done.append("record of the failure"))
        raise ValueError("answer could not be written")
    assert done == ["record of the failure"]


def test_blocks_nest_and_each_runs_its_own_work() -> None:
    done: list[str] = []
    with deferred.after_answer():
        deferred.defer(lambda: done.append("outer"))
        with deferred.after_answer():
            deferred.defer(lambda: done.append("inner"))
        assert done == ["inner"]
    assert done == ["inner", "outer"]
