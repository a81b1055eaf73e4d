"""The URL allow-list: what a prefix admits, and what it must never admit."""

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.serving.urls import is_allowed

ALLOW = ["https://cdn.example.com/images/", "http://10.0.0.5:8080"]


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/images/a.jpg",
        "https://CDN.example.com:443/images/sub/b.png?sig=1",
        "http://10.0.0.5:8080/anything.webp",
    ],
)
def test_admits_urls_under_a_prefix(url):
    assert is_allowed(url, ALLOW)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/imagesX/a.jpg",  # a sibling folder sharing the prefix's letters
        "https://cdn.example.com/other/a.jpg",
        "http://cdn.example.com/images/a.jpg",  # another scheme
        "https://cdn.example.com:8443/images/a.jpg",  # another port
        "https://cdn.example.com.evil.net/images/a.jpg",
        "https://user:pw@cdn.example.com/images/a.jpg",  # credentials
        "https://cdn.example.com/images/../secrets/key",
        "https://cdn.example.com/images/%2e%2e/secrets/key",
        "http://10.0.0.5:80/anything.webp",
        "http://10.0.0.5:notaport/x.png",
        "file:///etc/passwd",
    ],
)
def test_refuses_everything_else(url):
    assert not is_allowed(url, ALLOW)


def test_config_refuses_prefixes_that_are_not_http_urls():
    with pytest.raises(ConfigError, match="serve.url_allow_list"):
        load_config("tiny", ["serve.url_allow_list=[ftp://files.example.com/]"])
