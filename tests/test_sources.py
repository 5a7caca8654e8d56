"""Download sources: the order (chosen, or by locale), the URLs of each host, and a token
that only ever goes to Hugging Face's own host."""

from __future__ import annotations

import pytest

from models.sources import (
    MIRROR_ENDPOINT,
    Endpoints,
    file_sources,
    source_order,
)


def test_order_chosen_or_by_locale() -> None:
    assert source_order("mirror") == ("mirror", "hf", "modelscope")
    assert source_order("modelscope") == ("modelscope", "hf", "mirror")
    assert source_order("auto", "zh_CN") == ("modelscope", "mirror", "hf")
    assert source_order("auto", "en_US") == ("hf", "mirror", "modelscope")


def test_urls_and_tokens() -> None:
    ep = Endpoints("http://hub.test", "http://mirror.test", "http://ms.test")
    sources = file_sources("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
                           "qwen2.5-1.5b-instruct-q4_k_m.gguf", ("hf", "mirror", "modelscope"),
                           ep, hf_token="hf_gated_token")
    assert [(s.name, s.url, s.token) for s in sources] == [
        ("hf", "http://hub.test/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/"
               "qwen2.5-1.5b-instruct-q4_k_m.gguf", "hf_gated_token"),
        ("mirror", "http://mirror.test/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/"
                   "qwen2.5-1.5b-instruct-q4_k_m.gguf", None),
        ("modelscope", "http://ms.test/models/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/"
                       "master/qwen2.5-1.5b-instruct-q4_k_m.gguf", None),
    ]
    # No ModelScope copy: that source is left out.
    assert [s.name for s in file_sources("a/b", None, "x.gguf", ("modelscope", "hf"))] == ["hf"]


def test_hf_endpoint_names_the_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://my-mirror.example/")
    assert Endpoints.from_environment().mirror == "https://my-mirror.example"
    assert Endpoints.from_environment("http://set-in-settings").mirror == \
        "http://set-in-settings"
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    assert Endpoints.from_environment().mirror == MIRROR_ENDPOINT
