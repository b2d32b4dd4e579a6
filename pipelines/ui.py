"""`customer-sync ui` (`make ui`): the Dagster UI (`dg dev`) on this code location.

Without VIVENU_BASE_URL it serves the embedded default: the demo's simulated seller on a local
port and the demo's data directory and Dagster instance, so the UI shows the demo's runs and
"Materialize all" works with nothing configured. With VIVENU_BASE_URL it serves the configured
data directory against vivenu.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

from pipelines import settings
from pipelines.instance import DAGSTER_HOME, install_instance

ROOT = Path(__file__).resolve().parents[1]


def _dg() -> Path:
    dg = Path(sys.executable).with_name("dg")
    if not dg.exists():  # `make demo` installs the runtime only; dg is the `ui` dependency group
        raise click.ClickException(
            f"{dg} is not installed; `make ui` installs it and starts the UI"
        )
    return dg


def _dg_dev(env: dict[str, str], host: str, port: int) -> int:
    # dg reads the code location (and its name) from [tool.dg] in pyproject.toml, hence cwd.
    dg = _dg()
    click.echo(
        f"DAGSTER_HOME={env['DAGSTER_HOME']} (export it to run dagster/dg commands on this "
        f"instance); CUSTOMER_SYNC_DATA_DIR={env['CUSTOMER_SYNC_DATA_DIR']}",
        err=True,
    )
    # dg stops its webserver, daemon and code server on SIGINT (SIGTERM is mapped to it), so
    # SIGINT must not stay ignored as it is for a background job of a shell.
    proc = subprocess.Popen(
        [str(dg), "dev", "-h", host, "-p", str(port)],
        cwd=ROOT,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # A SIGTERM to us is passed on, and we wait for dg to stop everything it started (the
    # simulator they use lives in this process).
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGINT))
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue  # Ctrl-C reached dg too (same process group): wait for it to shut down


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface of the UI.")
@click.option("--port", default=3000, show_default=True, type=int, help="Port of the UI.")
def ui(host: str, port: int) -> None:
    """Start the Dagster UI; without VIVENU_BASE_URL, on the demo's simulated seller.

    The first start without VIVENU_BASE_URL runs the demo (about 90 s) so the UI opens on
    materialized assets; later starts reuse the demo's data and run history.
    """
    _dg()  # before the demo a first start runs, not a minute later
    env = settings.environment()
    if settings.BASE_URL.raw():
        data_dir = settings.data_dir()
        env["CUSTOMER_SYNC_DATA_DIR"] = str(data_dir)
        env["DAGSTER_HOME"] = str(
            install_instance(Path(env["DAGSTER_HOME"]))
            if env.get("DAGSTER_HOME")
            else install_instance(data_dir / DAGSTER_HOME)
        )
        sys.exit(_dg_dev(env, host, port))

    # The simulator is never imported by production code: only this branch needs it.
    from pipelines import demo
    from pipelines.vivenu.simulator.server import SimulatorServer

    data_dir = demo.demo_data_dir()
    store, writer = demo.seller()
    fresh = not (data_dir / "analytics.duckdb").exists()
    # Without a demo to show, the demo runs first, against the very simulator the UI then uses.
    with SimulatorServer(store, writer=writer if fresh else None) as sim:
        if fresh:
            try:
                demo.run(sim, writer, data_dir)
            except click.ClickException as exc:  # a failed demo run is in the UI too
                click.echo(f"the demo failed: {exc.message}; its runs are in the UI", err=True)
                writer.stop()
        env.update(
            VIVENU_BASE_URL=sim.base_url,
            VIVENU_API_KEY=sim.api_key,
            CUSTOMER_SYNC_DATA_DIR=str(data_dir),
            CUSTOMER_SYNC_MAX_RPS=env.get("CUSTOMER_SYNC_MAX_RPS") or "1000",
            DAGSTER_HOME=str(install_instance(data_dir / DAGSTER_HOME)),
        )
        click.echo(f"vivenu simulator (the demo's seller) on {sim.base_url}", err=True)
        code = _dg_dev(env, host, port)
    sys.exit(code)
