"""WorkQueue: coalescing, one worker per key, re-queue of keys added meanwhile, backoff."""

from __future__ import annotations

import asyncio

import pytest

from nodecount_scaler.control.queue import WorkQueue

pytestmark = pytest.mark.looptime


def make_queue() -> WorkQueue[str]:
    return WorkQueue("test", base_delay=1.0, max_delay=10.0)


async def nothing_ready(queue: WorkQueue[str]) -> bool:
    """True if no key can be taken within 0.1 s (of loop time)."""
    try:
        await asyncio.wait_for(queue.get(), 0.1)
    except TimeoutError:
        return True
    return False


async def test_key_added_twice_is_queued_once() -> None:
    """Adds of a key already waiting coalesce."""
    queue = make_queue()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    assert await nothing_ready(queue)


async def test_keys_come_out_in_order() -> None:
    """First added, first handed out."""
    queue = make_queue()
    for key in ("a", "b", "c"):
        queue.add(key)
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_in_processing_is_not_handed_out_again() -> None:
    """A key re-added while a worker holds it waits; no second worker gets it."""
    queue = make_queue()
    queue.add("a")
    await queue.get()
    queue.add("a")
    assert len(queue) == 0
    assert await nothing_ready(queue)


async def test_key_added_while_processing_is_queued_on_done() -> None:
    """done() re-queues a key that was added while it was processed, once."""
    queue = make_queue()
    queue.add("a")
    await queue.get()
    queue.add("a")
    queue.add("a")
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert await nothing_ready(queue)


async def test_done_without_new_add_does_not_requeue() -> None:
    """A processed key that nobody added again is gone."""
    queue = make_queue()
    queue.add("a")
    await queue.get()
    queue.done("a")
    assert len(queue) == 0


async def test_other_keys_are_handed_out_while_one_is_processed() -> None:
    """A key in processing blocks only itself."""
    queue = make_queue()
    queue.add("a")
    await queue.get()
    queue.add("a")
    queue.add("b")
    assert await queue.get() == "b"


async def test_retry_delay_doubles_per_failure_up_to_the_cap() -> None:
    """Per-key exponential backoff: base, 2x, 4x, ... capped at max_delay."""
    queue = make_queue()
    delays = [queue.retry("a") for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    queue.close()


async def test_backoff_is_per_key() -> None:
    """One key's failures do not lengthen another's delay."""
    queue = make_queue()
    for _ in range(3):
        queue.retry("a")
    assert queue.retry("b") == 1.0
    queue.close()


async def test_forget_resets_the_backoff() -> None:
    """After forget() the next failure waits the base delay again."""
    queue = make_queue()
    queue.retry("a")
    queue.retry("a")
    queue.forget("a")
    assert queue.retry("a") == 1.0
    queue.close()


async def test_retried_key_comes_back_after_its_delay() -> None:
    """A failed key is queued again when its delay has passed, not before."""
    queue = make_queue()
    loop = asyncio.get_running_loop()
    queue.add("a")
    await queue.get()
    queue.retry("a")
    queue.done("a")
    started = loop.time()
    assert len(queue) == 0
    assert await queue.get() == "a"
    assert loop.time() - started == pytest.approx(1.0)


async def test_retry_firing_during_processing_requeues_on_done() -> None:
    """A retry timer that fires while the key is still processed re-queues it at done()."""
    queue = make_queue()
    queue.add("a")
    await queue.get()
    queue.retry("a")
    await asyncio.sleep(2.0)
    assert len(queue) == 0
    queue.done("a")
    assert len(queue) == 1


async def test_pending_retry_is_not_doubled() -> None:
    """A second add_after while one is pending sets no second timer."""
    queue = make_queue()
    queue.add_after("a", 1.0)
    queue.add_after("a", 1.0)
    await asyncio.sleep(1.5)
    assert await queue.get() == "a"
    queue.done("a")
    await asyncio.sleep(2.0)
    assert len(queue) == 0


async def test_close_cancels_pending_retries() -> None:
    """After close() no delayed key is queued."""
    queue = make_queue()
    queue.retry("a")
    queue.close()
    await asyncio.sleep(5.0)
    assert len(queue) == 0
