from tests.redis_server import own_redis_server, redis_server, redis_url  # noqa: F401  (fixtures)
