"""Receiving a request body within a size limit and a deadline, before any of it is parsed.

Ray Serve's HTTP proxy has no body-size limit of its own: it reads whatever a client sends
into an unbounded queue, from which the replica pulls it. Here the declared length is refused
before a byte is read, and a body that grows past the limit or arrives too slowly is refused
as soon as that is known, which also ends the proxy's reading.
"""

import asyncio

from fastapi import HTTPException, Request


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The body, or 413 once it (or its declared length) exceeds ``max_bytes``, or 408 after ``timeout_s``.

    The deadline holds even when a client turns off the proxy's own timeout, which Ray Serve
    allows per request with the ``x-request-timeout-seconds`` header.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(
            413, f"request body of {declared} bytes is above the limit of {max_bytes} (serve.max_body_bytes)"
        )
    try:
        return await asyncio.wait_for(_read(request, max_bytes), timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(
            408, f"request body not received within {timeout_s:g} s (serve.request_timeout_s)"
        ) from None


async def _read(request: Request, max_bytes: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"request body is above the limit of {max_bytes} bytes (serve.max_body_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)
