import os

import redis

from tre.embedded_redis import embedded_redis


def test_embedded_redis_serves_on_a_unix_socket_and_stops(tmp_path):
    with embedded_redis(str(tmp_path)) as url:
        assert url.startswith("redis+socket:///")
        socket_path = url.removeprefix("redis+socket://")
        client = redis.Redis(unix_socket_path=socket_path)
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
    assert not os.path.exists(socket_path)
