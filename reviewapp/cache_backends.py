"""A Redis cache that degrades to "no cache" while Redis is down (README, "Failure modes").

The default cache only holds what can be computed again (dashboard digests, audit page
counts): when Redis refuses, hangs or drops, a read is a miss, a write is skipped, a warning
is logged (at most once a minute per process) and Redis is left alone for ``RETRY_S``
seconds (OPTIONS ``"retry_s"``, 5 by default; ``reviewapp.backoff``), so a dead Redis costs
a page a few recomputed figures, never a 500. The rate-limit cache keeps Django's plain
RedisCache: the rate limiter needs to see the errors to fail open on its own terms
(``reviewapp.services.ratelimit``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from reviewapp.backoff import Backoff

logger = logging.getLogger("reviewapp.cache")

# Add to several counters and start the expiry of those that have none, in one round trip:
# KEYS are the counters, ARGV the (amount, timeout) of each; the new values come back.
COUNTERS_ADD_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCRBY', key, ARGV[2 * i - 1])
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return out
"""


class _ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's client makes a new ``redis.Redis`` for every operation, which copies some 200
    response callbacks each time (a good part of a rate-limited request's CPU); redis-py
    clients are thread-safe, so one per connection pool does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    """Django's RedisCache with one redis client per pool, and ``counters_add``."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusedClientRedisCacheClient

    def counters_add(self, items: list[tuple[str, int, int]]) -> list[int]:
        """Add AMOUNT to each counter KEY (created with TIMEOUT seconds to live when new) in
        one round trip; the counts after adding. The same counters as ``add``/``incr`` use."""
        client = self._cache.get_client(write=True)
        script = self.__dict__.get("_counters_add_script")
        if script is None:
            script = self.__dict__["_counters_add_script"] = client.register_script(
                COUNTERS_ADD_LUA
            )
        keys = [self.make_and_validate_key(key) for key, _, _ in items]
        args = [value for _, amount, timeout in items for value in (amount, timeout)]
        return [int(n) for n in script(keys=keys, args=args, client=client)]


class FailSafeRedisCache(RedisCache):
    """Django's RedisCache whose failures are misses (reads) and no-ops (writes)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        self.retry_s = float(options.pop("retry_s", 5.0))
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 1.0)
        params["OPTIONS"] = options
        super().__init__(server, params)
        self.backoff = Backoff("cache", retry_s=lambda: self.retry_s, log=logger)

    def is_down(self) -> bool:
        """Whether a recent failure keeps this process off Redis for now."""
        return self.backoff.is_down()

    def _call(self, operation: str, fallback: Any, *args: Any, **kwargs: Any) -> Any:
        if self.is_down():
            return fallback
        try:
            return getattr(super(), operation)(*args, **kwargs)
        except Exception as exc:  # redis errors, socket errors, timeouts: degrade
            self.backoff.failed(exc, f"cache {operation} served without the cache")
            return fallback

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", default, key, default, version)

    def get_many(self, keys: Any, version: int | None = None) -> dict:
        return self._call("get_many", {}, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call("has_key", False, key, version)

    def add(self, key: Any, value: Any, timeout: Any = ..., version: int | None = None) -> bool:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._call("add", False, key, value, version=version, **kwargs)

    def set(self, key: Any, value: Any, timeout: Any = ..., version: int | None = None) -> None:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        self._call("set", None, key, value, version=version, **kwargs)

    def set_many(self, data: dict, timeout: Any = ..., version: int | None = None) -> list:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._call("set_many", list(data), data, version=version, **kwargs)

    def touch(self, key: Any, timeout: Any = ..., version: int | None = None) -> bool:
        kwargs = {} if timeout is ... else {"timeout": timeout}
        return self._call("touch", False, key, version=version, **kwargs)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._call("delete", False, key, version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call("delete_many", None, keys, version)

    def clear(self) -> None:
        self._call("clear", None)
