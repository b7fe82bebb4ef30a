"""WeChat's network limits and domain facts, read from ``rules/miniprogram.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from certcheck.catalog import read_data


@dataclass(frozen=True)
class Limits:
    """The numbers and names the mini-program checks compare against."""

    #: API list name -> the scheme its entries must use, in WeChat's field order
    schemes: dict[str, str]
    per_api: int
    prefetch: int
    forbidden_hosts: frozenset[str]
    timeout_default_ms: int
    timeout_max_ms: int
    background_ms: int
    near_fraction: float
    max_requests: int
    max_sockets: int
    #: networkTimeout key (request, connectSocket, ...) -> API list name
    timeout_keys: dict[str, str]

    @property
    def apis(self) -> tuple[str, ...]:
        return tuple(self.schemes)

    def timeout_key_for(self, api: str) -> str | None:
        for key, name in self.timeout_keys.items():
            if name == api:
                return key
        return None


@cache
def load_limits() -> Limits:
    data = tomllib.loads(read_data("miniprogram.toml").decode("utf-8"))
    domains, network = data["domains"], data["network"]
    return Limits(
        schemes=dict(domains["schemes"]),
        per_api=int(domains["limits"]["per_api"]),
        prefetch=int(domains["limits"]["prefetch"]),
        forbidden_hosts=frozenset(h.lower() for h in domains["forbidden_hosts"]["hosts"]),
        timeout_default_ms=int(network["timeout_default_ms"]),
        timeout_max_ms=int(network["timeout_max_ms"]),
        background_ms=int(network["background_ms"]),
        near_fraction=float(network["near_fraction"]),
        max_requests=int(network["max_requests"]),
        max_sockets=int(network["max_sockets"]),
        timeout_keys=dict(network["timeout_keys"]),
    )
