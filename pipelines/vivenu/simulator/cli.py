"""`customer-sync simulator`: serve the simulated vivenu API until Ctrl-C."""

from __future__ import annotations

import time
from datetime import datetime

import click

from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import serve_forever
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.webhooks import WebhookFaults, Webhooks
from pipelines.vivenu.simulator.writer import BackgroundWriter


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int, help="TCP port.")
@click.option("--customers", default=10_000, show_default=True, type=int, help="Customers to seed.")
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same data.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Day the seeded history ends (YYYY-MM-DD; default: the current UTC date).",
)
@click.option(
    "--api-key", default="sim-key", show_default=True, help="The Bearer key clients must send."
)
@click.option("--latency-ms", default=0.0, type=float, help="Added latency per request.")
@click.option("--error-rate", default=0.0, type=float, help="Share of 502/503 answers.")
@click.option("--rate-429", default=0.0, type=float, help="Share of 429 answers.")
@click.option("--retry-after", default="1", show_default=True, help='"absent", "0" or seconds.')
@click.option("--drop-rate", default=0.0, type=float, help="Share of cut connections.")
@click.option("--rps-limit", default=None, type=float, help="Requests per second before 429.")
@click.option("--writer-rate", default=0.0, type=float, help="Background writes per second.")
@click.option("--same-updated-at", default=0, type=int, help="Bulk-import N customers, one ms.")
@click.option(
    "--allow-http-webhooks",
    is_flag=True,
    help="Accept http:// and local webhook URLs (vivenu takes public HTTPS only; for local tests).",
)
@click.option(
    "--webhook-time-scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Multiplies the webhook retry schedule (7 attempts over ~2 h); 0.001: ~7 s.",
)
@click.option("--webhook-drop-rate", default=0.0, type=float, help="Share of deliveries lost.")
@click.option(
    "--webhook-duplicate-rate", default=0.0, type=float, help="Share of deliveries sent twice."
)
@click.option(
    "--webhook-reorder-rate", default=0.0, type=float, help="Share of deliveries held back."
)
@click.option(
    "--webhook-reorder-delay", default=2.0, show_default=True, type=float, help="Seconds held back."
)
@click.option("--webhook-delay", default=0.0, type=float, help="Seconds before every delivery.")
@click.option(
    "--webhook-bad-signature-rate",
    default=0.0,
    type=float,
    help="Share of attempts signed with a wrong key.",
)
def simulator(
    host: str,
    port: int,
    customers: int,
    seed: int,
    today: datetime | None,
    api_key: str,
    latency_ms: float,
    error_rate: float,
    rate_429: float,
    retry_after: str,
    drop_rate: float,
    rps_limit: float | None,
    writer_rate: float,
    same_updated_at: int,
    allow_http_webhooks: bool,
    webhook_time_scale: float,
    webhook_drop_rate: float,
    webhook_duplicate_rate: float,
    webhook_reorder_rate: float,
    webhook_reorder_delay: float,
    webhook_delay: float,
    webhook_bad_signature_rate: float,
) -> None:
    """Serve a simulated vivenu API with seeded customers until stopped."""
    started = time.perf_counter()
    store = Store.seeded(customers, seed, today=today.date() if today else None)
    if same_updated_at:
        store.bulk_import(same_updated_at)
    took = time.perf_counter() - started
    faults = Faults(
        latency_ms=latency_ms,
        error_5xx_rate=error_rate,
        rate_429=rate_429,
        retry_after=retry_after,
        drop_rate=drop_rate,
        rps_limit=rps_limit,
        seed=seed,
    )
    writer = BackgroundWriter(store, rate=writer_rate, seed=seed) if writer_rate > 0 else None
    webhooks = Webhooks(
        allow_http=allow_http_webhooks,
        time_scale=webhook_time_scale,
        faults=WebhookFaults(
            drop_rate=webhook_drop_rate,
            duplicate_rate=webhook_duplicate_rate,
            reorder_rate=webhook_reorder_rate,
            reorder_delay_s=webhook_reorder_delay,
            delay_s=webhook_delay,
            bad_signature_rate=webhook_bad_signature_rate,
            seed=seed,
        ),
    )
    click.echo(
        f"vivenu simulator: http://{host}:{port} (API key: {api_key}, {customers} customers, "
        f"seed {seed}; seeded in {took:.1f}s)",
    )
    serve_forever(host, port, store, api_key, faults, writer, webhooks)
