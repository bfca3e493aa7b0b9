"""The framework-free field types arm kinds declare their settings with."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from hypothesis import given
from hypothesis import strategies as st

from uxlab.streaming.kinds.fields import is_http_url

django_url = URLValidator(schemes=["http", "https"])


def django_accepts(value):
    try:
        django_url(value)
    except DjangoValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "value",
    [
        "https://api.example.org/v1",
        "http://127.0.0.1:8000/v1",
        "http://localhost:11434/v1",
        "http://[::1]:8000/v1",
        "http://[::1x]/v1",
        "http://[1:2:3:4:5:6:7:8:9]/",
        "http://user:secret@example.org/v1?x=1#y",
        "HTTPS://API.EXAMPLE.ORG",
        "https://bücher.example/v1",
        "https://xn--bcher-kva.example/v1",
        "http://vllm:8000/v1",
        "http://example.org:123456/",
        "http://256.1.1.1/",
        "http://-example.org/",
        "http://example.-org/",
        "http://exa mple.org/",
        "http://example.org/\n",
        "ftp://example.org/",
        "example.org/v1",
        "http://",
        "http://.",
        "http://example.org.",
        "http://" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com",
        "",
    ],
)
def test_it_accepts_exactly_the_urls_djangos_validator_accepts(value):
    assert is_http_url(value) == django_accepts(value)


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "http:/", ""])
    .flatmap(lambda scheme: st.text(alphabet="ab1-.:/[]@?#%_ é\t", max_size=30).map(lambda rest: scheme + rest))
)
def test_it_agrees_with_djangos_validator_on_any_url_like_text(value):
    assert is_http_url(value) == django_accepts(value)
