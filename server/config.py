"""How the API listens: address, token, CORS, limits; and the rule that only this computer
is served unless the user says otherwise, with a token."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a request body larger than this is answered 413


class BindingRefused(ValueError):
    """An address or set of options the API refuses to listen with (one line)."""


@dataclass(frozen=True, slots=True)
class ServeConfig:
    host: str = DEFAULT_HOST
    port: int = 0  # 0: any free port
    token: str | None = None  # None: no token asked (this computer only)
    allow_remote: bool = False  # listen on an address other computers can reach
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call (none: CORS off)
    max_body_bytes: int = MAX_BODY_BYTES

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Raise BindingRefused unless these options are safe to listen with."""
        if not 0 <= self.port <= 65535:
            raise BindingRefused(f"the port must be between 0 and 65535, not {self.port}")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise BindingRefused(f"a CORS origin looks like http://host:port, not "
                                     f"{origin!r}")
        if self.loopback:
            return
        if not self.allow_remote:
            raise BindingRefused(
                f"refusing to listen on {self.host}: the API serves this computer alone "
                f"(127.0.0.1) unless --allow-remote is given, with a token")
        if not self.token:
            raise BindingRefused(f"refusing to serve other computers on {self.host} "
                                 "without a token")


def is_loopback(host: str) -> bool:
    """True when every address `host` names is this computer's own (127.0.0.0/8, ::1)."""
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


LOCAL_HOST_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
