"""A real-world-shaped function file: uwsgidecorators for RPC, signals, timer, lock, postfork."""

import uwsgi
from uwsgidecorators import lock, postfork, rpc, signal, timer


@rpc("hello")
def hello(name=b"world"):
    return b"hello " + name


@signal(17)
def on_17(num):
    uwsgi.cache_update("sig17", str(num))


@signal(18, target="workers")
def on_18(num):
    uwsgi.cache_update(f"sig18-{uwsgi.worker_id()}", b"ran")


@signal(19, target="worker2")
def on_19(num):
    uwsgi.cache_update(f"sig19-{uwsgi.worker_id()}", b"ran")


@signal(20, target="active-workers")
def on_20(num):
    uwsgi.cache_update(f"sig20-{uwsgi.worker_id()}", b"ran")


@rpc("fire")
def fire(num):
    uwsgi.signal(int(num))
    return b"fired"


@rpc("get")
def get(key):
    return uwsgi.cache_get(key) or b"-"


@rpc("warn")
def warn(text):
    uwsgi.set_warning_message(text.decode())
    return b"ok"


@rpc("whoami")
def whoami():
    return f"{uwsgi.worker_id()}/{uwsgi.numproc}".encode()


@timer(1)
def tick(num):
    uwsgi.cache_update("ticked", b"yes")


@lock
def locked(arg):
    return b"locked " + arg


uwsgi.register_rpc("locked", locked)


@postfork
def after_fork():
    uwsgi.cache_update(f"postfork-{uwsgi.worker_id()}", b"ran")
