"""What each cache, lock and signal call returns or raises, as text (run at load and per call)."""

import uwsgi


def outcome(step):
    try:
        return repr(step())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def handler(num):
    pass


def at_load():
    return [
        outcome(lambda: uwsgi.worker_id()),
        outcome(lambda: uwsgi.numproc),
        outcome(lambda: uwsgi.mule_id()),
        outcome(lambda: uwsgi.register_signal(5, "", handler)),
        outcome(lambda: uwsgi.register_signal(5, "", handler)),
        outcome(lambda: uwsgi.register_signal(300, "", handler)),
        outcome(lambda: uwsgi.signal_registered(44)),
        outcome(lambda: uwsgi.signal_registered(45)),
        outcome(lambda: uwsgi.register_signal("6", "", handler)),
        outcome(lambda: uwsgi.cache_set("loaded", b"1")),
        outcome(lambda: uwsgi.lock(1)),
        outcome(lambda: type(uwsgi.masterpid()).__name__),
        outcome(lambda: type(uwsgi.started_on).__name__),
        outcome(lambda: uwsgi.add_timer(40, 3600)),
        outcome(lambda: uwsgi.add_rb_timer(41, 3600)),
        outcome(lambda: uwsgi.add_cron(42, 0, 3, -1, -1, -1)),
        outcome(lambda: uwsgi.register_signal(40, "", handler)),
    ]


LOADED = at_load()


def per_call():
    return [
        outcome(lambda: uwsgi.cache_clear()),
        outcome(lambda: uwsgi.cache_get("k")),
        outcome(lambda: uwsgi.cache_set("k", "v")),
        outcome(lambda: uwsgi.cache_set("k", b"w")),
        outcome(lambda: uwsgi.cache_get("k")),
        outcome(lambda: uwsgi.cache_update("k", b"x")),
        outcome(lambda: uwsgi.cache_get("k")),
        outcome(lambda: uwsgi.cache_exists("k")),
        outcome(lambda: uwsgi.cache_exists("nope")),
        outcome(lambda: uwsgi.cache_del("k")),
        outcome(lambda: uwsgi.cache_del("k")),
        outcome(lambda: uwsgi.cache_set("i", 5)),
        outcome(lambda: uwsgi.cache_set(b"bytes-key", b"v")),
        outcome(lambda: uwsgi.cache_get(b"bytes-key")),
        outcome(lambda: uwsgi.cache_set("s", b"in sessions", 0, "sessions")),
        outcome(lambda: uwsgi.cache_get("s", "sessions")),
        outcome(lambda: uwsgi.cache_get("s")),
        outcome(lambda: uwsgi.cache_clear("sessions")),
        outcome(lambda: uwsgi.cache_get("s", "sessions")),
        outcome(lambda: uwsgi.lock()),
        outcome(lambda: uwsgi.unlock()),
        outcome(lambda: uwsgi.unlock(3)),
        outcome(lambda: uwsgi.register_signal(7, "", handler)),
        outcome(lambda: uwsgi.register_signal(7, "", handler)),
        outcome(lambda: uwsgi.signal_registered(7)),
        outcome(lambda: uwsgi.signal(99)),
    ]


uwsgi.register_rpc("loaded", lambda: "\n".join(LOADED).encode())
uwsgi.register_rpc("rules", lambda: "\n".join(per_call()).encode())
