"""`customer-sync webhooks serve`: the webhook receiver on a local port.

Exit codes: 0 stopped (Ctrl-C, SIGTERM); 3 missing configuration (CUSTOMER_SYNC_WEBHOOK_SECRET).
"""

from __future__ import annotations

import logging

import click
import uvicorn

from pipelines import clikit, failures, preflight, settings
from pipelines.webhooks.inbox import Inbox
from pipelines.webhooks.server import MAX_BODY, PATH, build_app


@click.group()
def webhooks() -> None:
    """Near-real-time changes: receive vivenu's signed webhooks into the inbox."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port (0: any free).")
@click.option(
    "--max-body-bytes",
    default=MAX_BODY,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Bodies longer than this are refused with 413.",
)
def serve(host: str, port: int, max_body_bytes: int) -> None:
    """Receive vivenu webhooks on POST /webhooks into <data dir>/webhooks/inbox; GET /health.

    vivenu delivers only to public HTTPS URLs: put it behind an ingress or a tunnel.
    """
    clikit.config_problems(preflight.problems(webhooks=True))
    inbox = Inbox(settings.data_dir().absolute() / "webhooks")
    # The folders now: a data directory it cannot write to is one line at the start, not a 503
    # for every delivery.
    try:
        inbox.prepare()
    except OSError as exc:
        why = failures.explain_exception(exc, data_dir=inbox.root.parent)
        raise click.ClickException(
            why or f"cannot create the webhook inbox in {inbox.root}: {exc.strerror}"
        ) from exc
    app = build_app(settings.webhook_secret(), inbox, max_body=max_body_bytes)
    click.echo(f"webhook receiver: POST {PATH}, inbox {inbox.root / 'inbox'}", err=True)
    # Refusals and stores, by reason and envelope id: never a header or a body. uvicorn's
    # access log names method, path and status only.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Each connection in flight buffers up to 1 MiB: at most this many at once (503 beyond,
    # which vivenu retries).
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off", limit_concurrency=64)
