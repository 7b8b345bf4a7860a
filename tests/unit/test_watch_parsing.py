"""Pure decoding of the list+watch wire format: LineBuffer, parse_watch_line, decode_list_page."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from nodecount_scaler.kube.watch import (
    ExpiredError,
    LineBuffer,
    Rejections,
    StreamError,
    WatchEvent,
    decode_list_page,
    parse_watch_line,
)
from tests.unit.string_projection import PROJECTION


def obj(name: str, data: str = "x", rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}, "data": data}


def feed_all(chunks: list[bytes]) -> tuple[list[bytes], bool]:
    buffer = LineBuffer()
    lines = [line for chunk in chunks for line in buffer.feed(chunk)]
    return lines, buffer.pending


# --------------------------------------------------------------------------- LineBuffer


@pytest.mark.parametrize(
    ("chunks", "lines", "pending"),
    [
        pytest.param([b"a\n"], [b"a"], False, id="one-line-one-chunk"),
        pytest.param([b"a\nb\nc\n"], [b"a", b"b", b"c"], False, id="several-lines-per-chunk"),
        pytest.param([b"ab", b"c\n"], [b"abc"], False, id="line-split-over-two-chunks"),
        pytest.param([b"a", b"b", b"c", b"\n"], [b"abc"], False, id="line-split-over-four"),
        pytest.param([b"a\nb", b"c\nd", b"\n"], [b"a", b"bc", b"d"], False, id="splits-mixed"),
        pytest.param([b"a", b"\n", b"b\n"], [b"a", b"b"], False, id="newline-alone-in-chunk"),
        pytest.param([b"\n\na\n", b" \n"], [b"a"], False, id="empty-and-blank-lines-dropped"),
        pytest.param([b"a\r\n"], [b"a\r"], False, id="crlf-kept-for-json-to-ignore"),
        pytest.param([b"a\nb"], [b"a"], True, id="pending-after-complete-line"),
        pytest.param([b"ab", b"c"], [], True, id="pending-over-chunks"),
        pytest.param([b"a\n", b"  "], [b"a"], False, id="trailing-blank-not-pending"),
        pytest.param([b""], [], False, id="empty-chunk"),
        pytest.param([], [], False, id="no-chunks"),
    ],
)
def test_line_buffer_splits_chunks_into_lines(
    chunks: list[bytes], lines: list[bytes], pending: bool
) -> None:
    """Lines come out whole whatever the chunking; an unfinished line is reported pending."""
    assert feed_all(chunks) == (lines, pending)


def test_line_buffer_has_no_line_length_limit() -> None:
    """A line far above aiohttp's 128 KiB readline limit is assembled from many chunks."""
    line = b"x" * (1 << 20)
    data = line + b"\n"
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert feed_all(chunks) == ([line], False)


def test_line_buffer_keeps_the_tail_after_returning_lines() -> None:
    """The unfinished tail of one chunk is the head of the next line."""
    buffer = LineBuffer()
    assert buffer.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert buffer.pending
    assert buffer.feed(b":2}\n") == [b'{"b":2}']
    assert not buffer.pending


# --------------------------------------------------------------------------- parse_watch_line


def line(event_type: str, body: object) -> bytes:
    return orjson.dumps({"type": event_type, "object": body})


@pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"])
def test_parse_watch_line_returns_events(event_type: str) -> None:
    """Object events and bookmarks decode to a WatchEvent carrying the object's version."""
    body = obj("a", rv="42")
    event = parse_watch_line(line(event_type, body))
    assert event == WatchEvent(event_type, body)
    assert event.resource_version == "42"


def test_parse_watch_line_bookmark_with_only_a_version() -> None:
    """A bookmark's object carries just kind and metadata.resourceVersion."""
    body = {"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": "77"}}
    assert parse_watch_line(line("BOOKMARK", body)).resource_version == "77"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-metadata"),
        pytest.param({"metadata": None}, id="metadata-null"),
        pytest.param({"metadata": "oops"}, id="metadata-not-a-mapping"),
        pytest.param({"metadata": {"name": "a"}}, id="no-resource-version"),
    ],
)
def test_watch_event_without_usable_version_has_empty_version(body: dict[str, Any]) -> None:
    """An object without a readable resourceVersion yields "" rather than raising."""
    assert parse_watch_line(line("ADDED", body)).resource_version == ""


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"code": 410, "reason": "Expired", "message": "too old"}, id="expired"),
        pytest.param({"code": 410, "reason": "Gone"}, id="gone-no-message"),
    ],
)
def test_parse_watch_line_error_410_is_expired(status: dict[str, Any]) -> None:
    """An ERROR event with code 410 means the version is gone: the caller must relist."""
    with pytest.raises(ExpiredError):
        parse_watch_line(line("ERROR", {"kind": "Status", **status}))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"kind": "Status", "code": 500, "message": "etcd"}, id="code-500"),
        pytest.param({"kind": "Status", "code": "410"}, id="code-as-string"),
        pytest.param({"kind": "Status"}, id="no-code"),
    ],
)
def test_parse_watch_line_other_error_is_stream_error(body: dict[str, Any]) -> None:
    """An ERROR event other than 410 breaks the stream."""
    with pytest.raises(StreamError, match="ERROR event"):
        parse_watch_line(line("ERROR", body))


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"type": "ADDED", "object": {"metadata"', id="truncated-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"ADDED"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"object": {}}', id="no-type"),
        pytest.param(b'{"type": "ADDED"}', id="no-object"),
        pytest.param(b'{"type": "ADDED", "object": null}', id="object-null"),
        pytest.param(b'{"type": "ADDED", "object": [1]}', id="object-array"),
        pytest.param(b'{"type": "ERROR", "object": "boom"}', id="error-object-string"),
    ],
)
def test_parse_watch_line_garbage_is_stream_error(raw: bytes) -> None:
    """A line that is not a watch event breaks the stream instead of raising anything else."""
    with pytest.raises(StreamError):
        parse_watch_line(raw)


# --------------------------------------------------------------------------- decode_list_page


def page(*items: object, rv: str = "", cont: str = "") -> bytes:
    metadata = {"resourceVersion": rv, **({"continue": cont} if cont else {})}
    return orjson.dumps({"kind": "List", "metadata": metadata, "items": list(items)})


def test_decode_list_page_projects_items() -> None:
    """Every object becomes key -> view, with the page's version and continue token."""
    result = decode_list_page(
        page(obj("a"), obj("b", "y"), rv="10", cont="t1"), PROJECTION, Rejections("test")
    )
    assert (result.items, result.resource_version, result.continue_token, result.skipped) == (
        {"a": "x", "b": "y"},
        "10",
        "t1",
        0,
    )


def test_decode_list_page_skips_and_counts_malformed_objects() -> None:
    """Objects that fail to project are left out and counted; the rest are kept."""
    bad = [
        {"metadata": {"name": "no-data"}},
        {"metadata": {"name": 3}, "data": "x"},
        {"data": "no-metadata"},
        "not-an-object",
        None,
    ]
    result = decode_list_page(
        page(obj("a"), *bad, obj("b"), rv="10"), PROJECTION, Rejections("test")
    )
    assert (result.items, result.skipped) == ({"a": "x", "b": "x"}, len(bad))


def test_decode_list_page_drops_untracked_objects_without_counting_them() -> None:
    """A view of None is an object the service ignores, not a malformed one."""
    result = decode_list_page(
        page(obj("a", data=""), obj("b"), rv="10"), PROJECTION, Rejections("test")
    )
    assert (result.items, result.skipped) == ({"b": "x"}, 0)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"kind": "List"}', id="no-metadata-no-items"),
        pytest.param(b'{"metadata": null, "items": null}', id="nulls"),
        pytest.param(b'{"metadata": {}, "items": []}', id="empty"),
    ],
)
def test_decode_list_page_empty_list(raw: bytes) -> None:
    """A list without items, version or token decodes to an empty last page."""
    result = decode_list_page(raw, PROJECTION, Rejections("test"))
    assert (result.items, result.resource_version, result.continue_token) == ({}, "", "")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"<html>502 Bad Gateway</html>", id="html"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"metadata": "x", "items": []}', id="metadata-not-a-mapping"),
        pytest.param(b'{"metadata": {}, "items": {"a": 1}}', id="items-not-a-list"),
    ],
)
def test_decode_list_page_rejects_a_body_that_is_not_a_list(raw: bytes) -> None:
    """A body that is not a list response raises StreamError (the reflector retries)."""
    with pytest.raises(StreamError):
        decode_list_page(raw, PROJECTION, Rejections("test"))
