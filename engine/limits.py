"""The sane range of every number a user can set (settings file, Settings dialog, CLI
options), in one place, so each edge checks the same bounds and says the same thing."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    low: float
    high: float
    integer: bool
    what: str  # for messages: "the temperature"

    def check(self, value: object) -> int | float:
        """The value as a number of the right kind; ValueError (one line) otherwise."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{self.what} must be a number, not {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{self.what} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.what} must be a finite number, not {value!r}")
        if self.integer and number != int(number):
            raise ValueError(f"{self.what} must be a whole number, not {value!r}")
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.what} must be between {_show(self.low)} and "
                             f"{_show(self.high)}, not {_show(number)}")
        return int(number) if self.integer else number


def _show(number: float) -> str:
    """A number for a one-line message: whole numbers as such while short, else `%g`."""
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


# llama.cpp caps threads at 512 (GGML_MAX_N_THREADS); far fewer make sense on any CPU.
LIMITS: dict[str, Limit] = {
    "temperature": Limit(0, 5, False, "the temperature"),
    "top_p": Limit(0, 1, False, "top-p"),
    "top_k": Limit(0, 1_000_000, True, "top-k"),
    "min_p": Limit(0, 1, False, "min-p"),
    "repeat_penalty": Limit(0.1, 5, False, "the repeat penalty"),
    "max_tokens": Limit(1, 1_048_576, True, "the reply length"),
    "seed": Limit(-1, 2**31 - 1, True, "the seed"),
    "n_ctx": Limit(256, 1_048_576, True, "the context size"),
    "n_threads": Limit(1, 256, True, "the number of threads"),
    "n_gpu_layers": Limit(-1, 100_000, True, "the number of GPU layers"),
    "gpu_limit_mb": Limit(0, 1 << 24, True, "the GPU memory limit (MiB)"),
    "k": Limit(1, 1024, True, "the number of passages"),
    # next-token candidates per generated token (the window shows 10; the API's
    # top_logprobs goes to 20 as OpenAI's does)
    "candidates": Limit(0, 20, True, "the number of candidates per token"),
    "api_port": Limit(1, 65535, True, "the API port"),
}


def check(name: str, value: object) -> int | float:
    return LIMITS[name].check(value)
