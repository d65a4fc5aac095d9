"""Django-style: uWSGI imports this module; manage.py and the test suite import it without uWSGI."""

import os

try:
    import uwsgi
except ImportError:  # not under uWSGI
    uwsgi = None

SETTINGS = os.environ.get("DJANGO_SETTINGS_MODULE", "mysite.settings")


def version():
    return b"mysite 1.0 (" + SETTINGS.encode() + b")"


def under_uwsgi():
    return b"yes" if uwsgi is not None and "socket" in uwsgi.opt else b"no"


if uwsgi is not None:
    uwsgi.register_rpc("version", version)
    uwsgi.register_rpc("under_uwsgi", under_uwsgi)
