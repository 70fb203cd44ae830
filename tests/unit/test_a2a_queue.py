"""The A2A queue's pure parts: params.expires_in_seconds, the redelivery back-off, the template."""

from __future__ import annotations

from typing import Any

import pytest
from molecule_core.a2a.queue import backoff_seconds, expires_in_seconds
from molecule_core.platform.errors import InvalidInput
from molecule_local.template import default_template


def payload(**params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {}, **params}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [(payload(), None), (payload(expires_in_seconds=0), None), (payload(expires_in_seconds=60), 60), ({}, None)],
)
def test_expires_in_seconds_reads_a_positive_int_and_treats_zero_or_absent_as_default(
    given: Any, expected: Any
) -> None:
    assert expires_in_seconds(given) == expected


@pytest.mark.parametrize("bad", [-1, True, 1.5, "60", [60]])
def test_expires_in_seconds_rejects_anything_else_with_400(bad: Any) -> None:
    with pytest.raises(InvalidInput) as raised:
        expires_in_seconds(payload(expires_in_seconds=bad))
    assert raised.value.status_code == 400


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [15, 30, 60, 120]
    assert backoff_seconds(50) == 900


def test_a2a_queue_is_fifo_with_a_fifo_dead_letter_queue_and_drained_in_batches_of_ten() -> None:
    template = default_template()
    queue = template.queues["A2aQueue"]
    assert queue.fifo and not queue.content_based_deduplication
    assert queue.dead_letter_queue == "A2aDeadLetterQueue" and queue.max_receive_count == 5
    assert template.queues["A2aDeadLetterQueue"].fifo
    drain = template.functions["A2aDrainFunction"]
    (trigger,) = drain.queues
    assert (trigger.queue, trigger.batch_size, trigger.report_batch_item_failures) == ("A2aQueue", 10, True)
    assert queue.visibility_timeout >= 6 * drain.timeout
    assert template.raw["Globals"]["Function"]["Environment"]["Variables"]["A2A_QUEUE_URL"] == {"Ref": "A2aQueue"}
