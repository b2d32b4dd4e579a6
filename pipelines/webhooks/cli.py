"""`customer-sync webhooks serve`: the webhook receiver on a local port.

Exit codes: 0 stopped (Ctrl-C, SIGTERM); 3 missing configuration (CUSTOMER_SYNC_WEBHOOK_SECRET).
"""

from __future__ import annotations

import logging

import click
import uvicorn

from pipelines import clikit, preflight, settings
from pipelines.webhooks.inbox import Inbox
from pipelines.webhooks.server import PATH, build_app


@click.group()
def webhooks() -> None:
    """Near-real-time changes: receive vivenu's signed webhooks into the inbox."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port (0: any free).")
def serve(host: str, port: int) -> None:
    """Receive vivenu webhooks on POST /webhooks into <data dir>/webhooks/inbox; GET /health.

    vivenu delivers only to public HTTPS URLs: put it behind an ingress or a tunnel.
    """
    clikit.config_problems(preflight.problems(webhooks=True))
    inbox = Inbox(settings.data_dir().absolute() / "webhooks")
    app = build_app(settings.webhook_secret(), inbox)
    click.echo(f"webhook receiver: POST {PATH}, inbox {inbox.root / 'inbox'}", err=True)
    # Refusals and stores, by reason and envelope id: never a header or a body. uvicorn's
    # access log names method, path and status only.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Each connection in flight buffers up to 1 MiB: at most this many at once (503 beyond,
    # which vivenu retries).
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off", limit_concurrency=64)
