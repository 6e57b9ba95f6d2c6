"""moto_server with DynamoDB writes made atomic with respect to each other.

moto runs a transaction by deep-copying the tables it touches and, when a condition fails,
putting the copies back: under concurrent requests that undoes writes other requests made in
between (a chunk marked done comes back pending). DynamoDB itself never does that, so requests
take a lock here; SQS long polls do not, so they cannot stall the rest.
"""
import sys
import threading

from moto import server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialised(app):
    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".ReceiveMessage"):
            return app(environ, start_response)
        with _lock:
            return list(app(environ, start_response))

    return wrapped


def run_simple(host, port, app, **kwargs):
    return _run_simple(host, port, _serialised(app), **kwargs)


server.run_simple = run_simple

if __name__ == "__main__":
    sys.exit(server.main(sys.argv[1:]))
