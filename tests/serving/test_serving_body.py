"""Reading a request body within a size limit and a deadline, before any of it is parsed."""

import asyncio

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from synclr_ray.serving.body import read_body


def _request(chunks: list[bytes], declared: int | None = None, delay_s: float = 0.0) -> Request:
    """A real ASGI request whose body arrives in ``chunks``, each ``delay_s`` apart."""
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict:
        await asyncio.sleep(delay_s)
        return messages.pop(0)

    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


def test_a_body_within_the_limit_is_read_whole():
    assert asyncio.run(read_body(_request([b"ab", b"cd"]), max_bytes=4, timeout_s=5)) == b"abcd"


def test_a_declared_length_above_the_limit_is_refused_before_reading():
    with pytest.raises(HTTPException) as err:
        asyncio.run(read_body(_request([b"x"], declared=1000), max_bytes=10, timeout_s=5))
    assert err.value.status_code == 413 and "serve.max_body_bytes" in err.value.detail


def test_a_body_that_grows_past_the_limit_is_refused():
    with pytest.raises(HTTPException) as err:
        asyncio.run(read_body(_request([b"12345", b"67890"]), max_bytes=8, timeout_s=5))
    assert err.value.status_code == 413


def test_a_body_arriving_too_slowly_times_out_naming_the_setting():
    with pytest.raises(HTTPException) as err:
        asyncio.run(read_body(_request([b"a", b"b", b"c"], delay_s=0.2), max_bytes=100, timeout_s=0.3))
    assert err.value.status_code == 408 and "serve.request_timeout_s" in err.value.detail
