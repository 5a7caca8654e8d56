"""The local OpenAI-compatible API: `mingjing serve`, and the window's API switch.

Every request goes through the same parts as the window: turns are planned and run by
app.chat_service.ChatService (retrieval included) on the one model app.model_host.ModelHost
holds, one turn at a time in arrival order. No Qt here.

The HTTP stack is Starlette on uvicorn (h11, asyncio; no uvloop or httptools), chosen by
measurement on the 2-core development machine (client: http.client with keep-alive in
another process on 127.0.0.1; median of 2,000 requests / 200 streams, two rounds):

    stack                        trivial JSON p50   SSE stream of 200 events   bundle adds
    stdlib ThreadingHTTPServer   106-245 µs          2.0-2.4 ms                  0
    Starlette + uvicorn (h11)    217-225 µs          4.1-4.7 ms                  1.2 MB
    Starlette + uvicorn (httptools)  117-142 µs      2.0-2.9 ms              + 1.6 MB of C
    aiohttp                      152-210 µs          2.5-2.8 ms                 12.2 MB

Every stack costs well under a millisecond a request and ~20 µs an event, against 10-50 ms
between two tokens on a CPU: the speed is the model's. Starlette + uvicorn then wins on
upkeep (the most used Python ASGI pair, BSD-3; pure Python wheels of 581 kB with anyio, h11
and click; CORS, routing, disconnect notices and keep-alive done and tested elsewhere) and
size; the stdlib server would leave chunked streaming, keep-alive and disconnects to us,
and aiohttp ships 12 MB of C extensions. Bundle sizes: PyInstaller one-folder builds of a
script importing each stack, against one importing the stdlib parts the app already has."""
