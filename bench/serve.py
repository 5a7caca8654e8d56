"""The local API: the built-in chat model through `mingjing serve` (the openai client,
streaming, over 127.0.0.1) vs in-process (the chat service on the same file), same run,
alternating; then 8 clients at once, queued.

Time to first token = from the request to the first piece of reply text (prompt evaluation
included); decode = completion tokens after the first / time from the first piece to the
last. Each round asks a new question (a numbered variant), so both sides reuse the same
template prefix from their previous round and evaluate the rest. Greedy, same threads.
Targets: decode >= 0.95x in-process, time to first token <= +20 ms. Two clients read the
stream: the official openai package, and a lean one (httpx, json per line) that shows what the
server itself costs when the client's own per-chunk work is small.

8 clients: each sends a streamed request 50 ms after the previous one (a defined order of
arrival) while the first is answered; the server's queue holds the others. Reported: all
answered, none lost, and whether they were served in the order they arrived."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import chat_model_path, median, report, threads

QUESTION = "第{n}个问题：请用三句话解释什么是大语言模型的上下文窗口。"
N_TOKENS = 128
ROUNDS = 5
TOKEN = "bench-token-0123456789"
N_CLIENTS = 8
STAGGER_S = 0.05
CLIENT_TOKENS = 24
LEAN_QUESTIONS = 100  # the lean client's questions are numbered from here


def start_server(home: Path, n_threads: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "MINGJING_HOME": str(home)}
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", "0", "--token", TOKEN,
         "--model", "qwen2.5-coder-0.5b-instruct", "--ctx", "2048", "--threads",
         str(n_threads)], cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    found = re.search(r"(http://\S+/v1)", first)
    if not found:
        raise SystemExit(f"mingjing serve did not start: {first!r}")
    return proc, found.group(1)


def served_run(client: Any, n: int) -> tuple[float, float, dict[str, Any]]:
    t0 = time.perf_counter()
    stamps: list[float] = []
    usage: Any = None
    stats: dict[str, Any] = {}
    for chunk in client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": QUESTION.format(n=n)}],
            temperature=0, max_tokens=N_TOKENS, stream=True,
            stream_options={"include_usage": True}, extra_body={"repeat_penalty": 1.0}):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.choices and chunk.choices[0].finish_reason:
            stats = chunk.model_extra["mingjing"]["stats"]
        if chunk.usage is not None:
            usage = chunk.usage
    tokens = usage.completion_tokens
    return stamps[0] - t0, (tokens - 1) / (stamps[-1] - stamps[0]), stats


def lean_run(http: Any, url: str, n: int) -> tuple[float, float]:
    """The same request read by a lean client (httpx, one json.loads a line): what the
    server costs without the openai client's per-chunk models, which on a 2-core machine
    take their CPU time from llama.cpp's threads."""
    body = {"model": "chat", "messages": [{"role": "user", "content": QUESTION.format(n=n)}],
            "temperature": 0, "max_tokens": N_TOKENS, "stream": True,
            "stream_options": {"include_usage": True}, "repeat_penalty": 1.0}
    t0 = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    with http.stream("POST", f"{url}/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            choices = chunk.get("choices")
            if choices and choices[0].get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return stamps[0] - t0, (tokens - 1) / (stamps[-1] - stamps[0])


def local_run(service: Any, n: int) -> tuple[float, float]:
    from app.chat_service import TurnRequest
    from engine.types import ChatMessage, FinishEvent, SamplingParams, TokenEvent

    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=N_TOKENS)
    request = TurnRequest(None, [ChatMessage("user", QUESTION.format(n=n))], sampling,
                          persist=False)
    t0 = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    for event in service.run(request):
        if isinstance(event, TokenEvent) and event.text:
            stamps.append(time.perf_counter())
        elif isinstance(event, FinishEvent):
            tokens = event.stats.completion_tokens
    return stamps[0] - t0, (tokens - 1) / (stamps[-1] - stamps[0])


def clients_queued(url: str) -> list[tuple[str, str]]:
    import openai

    results: list[dict[str, Any]] = [{} for _ in range(N_CLIENTS)]

    def client(k: int) -> None:
        record = results[k]
        time.sleep(k * STAGGER_S)
        record["sent"] = time.perf_counter()
        try:
            api = openai.OpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)
            text = []
            for chunk in api.chat.completions.create(
                    model="chat", messages=[{"role": "user",
                                             "content": f"Client {k}: name a fruit."}],
                    temperature=0, max_tokens=CLIENT_TOKENS, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    record.setdefault("first", time.perf_counter())
                    text.append(chunk.choices[0].delta.content)
            record["done"] = time.perf_counter()
            record["text"] = "".join(text)
        except Exception as exc:  # a lost or refused request is what this measures
            record["error"] = f"{exc.__class__.__name__}: {exc}"

    t0 = time.perf_counter()
    pool = [threading.Thread(target=client, args=(k,)) for k in range(N_CLIENTS)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = time.perf_counter() - t0
    answered = [r for r in results if r.get("text")]
    errors = [r["error"] for r in results if "error" in r]
    by_arrival = sorted(range(N_CLIENTS), key=lambda k: results[k]["sent"])
    served = sorted((k for k in range(N_CLIENTS) if "first" in results[k]),
                    key=lambda k: results[k]["first"])
    waits = [round(results[k]["first"] - results[k]["sent"], 2) for k in by_arrival
             if "first" in results[k]]
    return [
        ("answered", f"{len(answered)} of {N_CLIENTS}"),
        ("lost or refused", f"{len(errors)} {errors[:2] if errors else ''}"),
        ("order of arrival", " ".join(map(str, by_arrival))),
        ("order served", " ".join(map(str, served)) +
         ("  (kept)" if served == by_arrival else "  (NOT kept)")),
        ("wait to first text, s", str(waits)),
        ("all 8 done in", f"{total:.1f} s"),
    ]


def main() -> dict[str, float]:
    import httpx
    import openai

    from app.chat_service import ChatService
    from engine.runtime import Engine
    from engine.types import LoadParams

    path = chat_model_path()
    n_threads = threads()
    with tempfile.TemporaryDirectory(prefix="mingjing-bench-serve-") as tmp:
        home = Path(tmp)
        (home / "models").mkdir()
        os.link(path, home / "models" / path.name)
        (home / "settings.json").write_text(json.dumps({"n_ctx": 2048}), encoding="utf-8")
        proc, url = start_server(home, n_threads)
        try:
            client = openai.OpenAI(base_url=url, api_key=TOKEN, max_retries=0, timeout=600)
            engine = Engine.load(path, LoadParams(n_ctx=2048, n_threads=n_threads))
            service = ChatService(engine)
            http = httpx.Client(timeout=600)
            served_run(client, 0)  # warm-up: page the weights in, both sides
            lean_run(http, url, LEAN_QUESTIONS)
            local_run(service, 0)
            s_ttft, s_rate, l_ttft, l_rate, e_ttft, e_rate = [], [], [], [], [], []
            w_ttft, w_rate = [], []
            sides = ("served", "lean", "local")
            for n in range(1, ROUNDS + 1):
                # Rotate who goes first, so no side always follows the same one.
                for side in sides[n % 3:] + sides[:n % 3]:
                    if side == "served":
                        t, r, stats = served_run(client, n)
                        s_ttft.append(t)
                        s_rate.append(r)
                        e_ttft.append(stats["time_to_first_token_s"])
                        e_rate.append(stats["decode_tok_s"])
                    elif side == "lean":
                        # Its own questions: the server's cache holds the openai
                        # side's prompt of this round, which would make this one free.
                        t, r = lean_run(http, url, LEAN_QUESTIONS + n)
                        w_ttft.append(t)
                        w_rate.append(r)
                    else:
                        t, r = local_run(service, n)
                        l_ttft.append(t)
                        l_rate.append(r)
            http.close()
            engine.close()
            queued = clients_queued(url)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    st, sr, lt, lr = median(s_ttft), median(s_rate), median(l_ttft), median(l_rate)
    wt, wr = median(w_ttft), median(w_rate)
    report(
        f"Qwen2.5-Coder 0.5B Instruct: `mingjing serve` (openai client, streaming) vs "
        f"in-process chat service ({N_TOKENS} tokens at most, {n_threads} threads, median of "
        f"{ROUNDS}, alternating)",
        [
            ("in-process: time to first token", f"{lt * 1000:.0f} ms  "
                                                f"{[round(x * 1000) for x in l_ttft]}"),
            ("served: time to first token", f"{st * 1000:.0f} ms  "
                                            f"{[round(x * 1000) for x in s_ttft]}"),
            ("  the server's engine alone", f"{median(e_ttft) * 1000:.0f} ms"),
            ("difference (TTFT)", f"{(st - lt) * 1000:+.0f} ms  (target <= +20 ms)"),
            ("in-process: decode", f"{lr:.1f} tok/s  {[round(x, 1) for x in l_rate]}"),
            ("served: decode", f"{sr:.1f} tok/s  {[round(x, 1) for x in s_rate]}"),
            ("  the server's engine alone", f"{median(e_rate):.1f} tok/s"),
            ("ratio served / in-process", f"{sr / lr:.3f}  (target >= 0.95)"),
            ("lean client (httpx): time to first token",
             f"{wt * 1000:.0f} ms  {[round(x * 1000) for x in w_ttft]}  "
             f"({(wt - lt) * 1000:+.0f} ms)"),
            ("lean client (httpx): decode", f"{wr:.1f} tok/s  {[round(x, 1) for x in w_rate]}"),
            ("ratio lean-served / in-process", f"{wr / lr:.3f}  (target >= 0.95)"),
        ],
    )
    report(f"{N_CLIENTS} clients at once, {STAGGER_S * 1000:.0f} ms apart, {CLIENT_TOKENS} "
           "tokens each, queued by the server", queued)
    return {"served_ttft_s": st, "local_ttft_s": lt, "served_tok_s": sr, "local_tok_s": lr}


if __name__ == "__main__":
    main()
    sys.exit(0)
