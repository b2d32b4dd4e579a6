"""`customer-sync webhooks serve`: the webhook receiver on a local port; `webhooks register`,
`list` and `remove`: the subscription in vivenu that delivers to it.

Exit codes: 0 done (serve: stopped by Ctrl-C, SIGTERM); 1 vivenu refused or failed (one line);
2 bad usage (a URL, name, event or key file that cannot work); 3 missing configuration
(CUSTOMER_SYNC_WEBHOOK_SECRET for serve, VIVENU_BASE_URL and VIVENU_API_KEY for the others).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import click
import uvicorn

from pipelines import clikit, failures, preflight, settings
from pipelines.vivenu.client import ClientSettings, VivenuClient, Webhook
from pipelines.vivenu.errors import VivenuConfigError, VivenuError
from pipelines.webhooks.inbox import Inbox
from pipelines.webhooks.server import MAX_BODY, PATH, build_app
from pipelines.webhooks.subscriptions import (
    DEFAULT_EVENTS,
    DEFAULT_NAME,
    KNOWN_EVENTS,
    KeyFile,
    Registered,
    SubscriptionError,
    check_events,
    check_name,
    check_url,
    register,
)

T = TypeVar("T")


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


def _with_client(command: str, work: Callable[[VivenuClient], Awaitable[T]]) -> T:
    """Run `work` with a client from the environment; vivenu's failures as one line."""
    clikit.config_problems(preflight.problems(api=True))
    try:
        client_settings = ClientSettings.from_env()
    except VivenuConfigError as exc:
        raise clikit.ConfigProblems([str(exc)]) from None

    async def run() -> T:
        async with VivenuClient(client_settings) as client:
            return await work(client)

    try:
        return asyncio.run(run())
    except VivenuError as exc:
        raise click.ClickException(f"webhooks {command}: {exc}") from None


def _usage(exc: SubscriptionError) -> click.UsageError:
    return click.UsageError(str(exc))


def _describe(hook: Webhook) -> str:
    state = "enabled" if hook.enabled else "disabled"
    return f"{hook.name} ({hook.id}, {state}) -> {hook.url}: {', '.join(hook.events) or '-'}"


@webhooks.command("register")
@click.option("--url", required=True, help="The receiver's public HTTPS URL (path /webhooks).")
@click.option(
    "--events",
    multiple=True,
    help=f"Event types, comma-separated or repeated (default: {', '.join(DEFAULT_EVENTS)}; "
    f"known: {', '.join(KNOWN_EVENTS)}).",
)
@click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="The subscription's name in vivenu (5-30 characters); registering it again updates it.",
)
@click.option(
    "--hmac-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a new hmacKey to this file (mode 0600) instead of printing it.",
)
@click.option(
    "--rotate", is_flag=True, help="Give the subscription a new hmacKey (and replace the file)."
)
def register_command(
    url: str, events: tuple[str, ...], name: str, hmac_key_file: Path | None, rotate: bool
) -> None:
    """Create or update (by --name) the vivenu webhook delivering to --url.

    A new subscription (or --rotate) gets a new random hmacKey, printed once on stdout or
    written only to --hmac-key-file; set CUSTOMER_SYNC_WEBHOOK_SECRET to it where `webhooks
    serve` runs. Updating keeps the key. HTTPS only, except http://127.0.0.1 and localhost.
    """
    try:
        chosen = check_events(events)
        check_url(url)
        check_name(name)
        key_file = KeyFile(hmac_key_file, rotate=rotate) if hmac_key_file else None
    except SubscriptionError as exc:
        raise _usage(exc) from None

    async def work(client: VivenuClient) -> Registered:
        try:
            return await register(
                client, name=name, url=url, events=chosen, rotate=rotate, key_file=key_file
            )
        except SubscriptionError as exc:
            raise _usage(exc) from None

    done = _with_client("register", work)
    click.echo(
        f"{'created' if done.created else 'updated'} webhook {_describe(done.webhook)}", err=True
    )
    if done.removed:
        click.echo(f"removed {done.removed} more webhook(s) named {name}", err=True)
    secret = settings.WEBHOOK_SECRET.name
    if done.key is not None:
        click.echo(
            f"its hmacKey follows on stdout, shown only this once: set {secret} to it where "
            "`webhooks serve` runs",
            err=True,
        )
        click.echo(done.key)
    elif done.key_written:
        click.echo(
            f"its hmacKey is in {hmac_key_file} (mode 0600): set {secret} to its content where "
            "`webhooks serve` runs",
            err=True,
        )
    else:
        click.echo("its hmacKey is unchanged (--rotate makes a new one)", err=True)


@webhooks.command("list")
@clikit.json_option("Print the subscriptions as JSON on stdout.")
def list_command(as_json: bool) -> None:
    """The seller's webhook subscriptions: name, id, enabled, URL, events (never the key)."""
    hooks = _with_client("list", lambda client: client.list_webhooks())
    if as_json:
        click.echo(json.dumps([asdict(h) for h in hooks], indent=2))
        return
    if not hooks:
        click.echo("no webhooks (customer-sync webhooks register --url ... adds one)", err=True)
    for hook in hooks:
        click.echo(_describe(hook))


@webhooks.command("remove")
@click.option("--name", default=None, help="Remove the subscription(s) of this name.")
@click.option("--id", "webhook_id", default=None, help="Remove the subscription of this id.")
def remove_command(name: str | None, webhook_id: str | None) -> None:
    """Delete a webhook subscription in vivenu, by --name or by --id."""
    if (name is None) == (webhook_id is None):
        raise click.UsageError("give exactly one of --name and --id")

    async def work(client: VivenuClient) -> list[Webhook]:
        if webhook_id is not None:
            targets = [webhook_id]
        else:
            targets = [h.id for h in await client.list_webhooks() if h.name == name]
        return [await client.delete_webhook(t) for t in targets]

    removed = _with_client("remove", work)
    if not removed:
        raise click.ClickException(
            f"webhooks remove: no webhook named {name!r} (customer-sync webhooks list shows them)"
        )
    for hook in removed:
        click.echo(f"removed webhook {_describe(hook)}", err=True)


@webhooks.command()
@clikit.json_option("Print what was applied as JSON on stdout.")
@click.option("--verbose", is_flag=True, help="Log the run's steps on stderr.")
def apply(as_json: bool, verbose: bool) -> None:
    """Apply the envelopes waiting in the inbox: lake, quality gate, warehouse, analytics and
    segments, as `webhooks_job` (the sensor `webhook_inbox_sensor` runs it by itself)."""
    from pipelines.cli import run_job

    clikit.config_problems(preflight.problems(pipeline=True))
    metadata = run_job("webhooks_job", {}, verbose=verbose)
    applied = metadata.get("webhook_changes", {})
    if as_json:
        click.echo(json.dumps({"webhook_changes": applied}, indent=2))
        return
    click.echo(
        f"applied {applied.get('envelopes', 0)} envelope(s): "
        + ", ".join(
            f"{k.removesuffix('_records')} {v:,}"
            for k, v in applied.items()
            if k.endswith("_records")
        ),
        err=True,
    )
