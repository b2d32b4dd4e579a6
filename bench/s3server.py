"""moto's S3 server on 127.0.0.1, for the tests and the benches: prints its port, then serves
until its stdin closes (so it dies with its parent, even one killed with -9).

    python -m bench.s3server          # quiet
    python -m bench.s3server --log    # one line per request on stderr (the benches count them)

A child process, not a thread of the caller: delta-rs holds the GIL during some of its S3 calls
(`DeltaTable.history()`), so a server in the same process could never answer them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import moto.backends
from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description="moto's S3 server on 127.0.0.1")
    parser.add_argument("--log", action="store_true", help="one line per request on stderr")
    args = parser.parse_args()
    # moto routes every request by listing its own package directory (a stat per service, about
    # 200; `DomainDispatcherApplication.get_backend_for_host` looks it up on the module each
    # time): an eighth of its CPU time in the test suite. The list never changes while it runs.
    listed = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: listed
    if not args.log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()
    os._exit(0)  # at once: no interpreter shutdown while the server's threads still serve


if __name__ == "__main__":
    main()
