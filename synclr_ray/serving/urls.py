"""Image URLs in requests: only under the prefixes of ``serve.url_allow_list``, fetched within size and time limits.

The replica fetches what a client names, so the allow-list is what keeps the endpoint from
being used to reach other hosts (SSRF). Redirects are not followed (they could leave the
list), ``.``/``..`` path segments and credentials in URLs are refused, and each body is
bounded while it streams in, after content decoding, so a compressed body cannot grow past
the limit either.
"""

import asyncio
from urllib.parse import unquote, urlsplit

import httpx
from fastapi import HTTPException

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_url(text: str) -> bool:
    """Whether a request item names an http(s) URL (rather than carrying the image itself)."""
    return text[:8].lower().startswith(("http://", "https://"))


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


def _under(path: str, prefix: str) -> bool:
    prefix = prefix or "/"
    return path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/")


def is_allowed(url: str, allow_list: list[str]) -> bool:
    """Whether ``url`` lies under one of the prefixes: same scheme, host and port, and a path below the prefix's."""
    parts = urlsplit(url)
    origin = _origin(url)
    if origin is None or parts.username is not None or parts.password is not None:
        return False
    if {".", ".."} & set(unquote(parts.path).split("/")):
        return False
    return any(origin == _origin(prefix) and _under(parts.path or "/", urlsplit(prefix).path) for prefix in allow_list)


def check_allowed(url: str, field: str, allow_list: list[str]) -> None:
    """400 naming ``field`` unless ``url`` is under ``serve.url_allow_list``."""
    if not allow_list:
        raise HTTPException(
            400, f"{field}: URLs are not accepted here (serve.url_allow_list is empty): send a data URI"
        )
    if not is_allowed(url, allow_list):
        raise HTTPException(400, f"{field}: {_shown(url)} is not under serve.url_allow_list")


def _shown(url: str) -> str:
    """The URL without its query: presigned URLs carry credentials there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def fetch(url: str, field: str, max_bytes: int, timeout_s: float) -> bytes:
    """The body of a GET of ``url``: 413 past ``max_bytes``, 400 naming ``field`` for any other failure."""
    try:
        return await asyncio.wait_for(_get(url, field, max_bytes, timeout_s), timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(
            400, f"{field}: {_shown(url)} not fetched within {timeout_s:g} s (serve.url_timeout_s)"
        ) from None


async def _get(url: str, field: str, max_bytes: int, timeout_s: float) -> bytes:
    too_large = HTTPException(
        413, f"{field}: {_shown(url)} is larger than the {max_bytes} bytes left of serve.max_body_bytes"
    )
    # trust_env off: no proxy settings or .netrc credentials of the replica's host go to the fetched host.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout_s) as client:
        try:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    note = " (redirects are not followed)" if response.is_redirect else ""
                    raise HTTPException(400, f"{field}: {_shown(url)} answered HTTP {response.status_code}{note}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise too_large
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_large
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise HTTPException(400, f"{field}: cannot fetch {_shown(url)} ({type(exc).__name__})") from None
    return b"".join(chunks)
