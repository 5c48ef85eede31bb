"""The cache when Redis is configured: Django's Redis cache, which keeps answering while Redis does
not. Sign-in rate limits (allauth) live in the cache; with plain RedisCache a Redis outage turned
every sign-in into a 500. While Redis is unreachable each process keeps its entries in its own
memory, so limits go on counting (per process) and sign-in keeps working; when Redis answers
again it is used again."""

from __future__ import annotations

import logging

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

OUTAGE = (RedisConnectionError, RedisTimeoutError)


class RedisCacheWithFallback(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self.fallback = LocMemCache(f"wes-fallback-{id(self)}", {"TIMEOUT": params.get("TIMEOUT", 300)})


def _falls_back(name: str):
    def method(self, *args, **kwargs):
        try:
            return getattr(RedisCache, name)(self, *args, **kwargs)
        except OUTAGE as exc:
            log.warning("cache: Redis did not answer (%s); this process uses its own memory", exc)
            return getattr(self.fallback, name)(*args, **kwargs)
    method.__name__ = name
    return method


for _name in ("add", "get", "set", "touch", "delete", "get_many", "has_key", "incr",
              "set_many", "delete_many", "clear"):
    setattr(RedisCacheWithFallback, _name, _falls_back(_name))
