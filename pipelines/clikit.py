"""Pieces every `customer-sync` command shares: the `--json` flag and the configuration exit.

A command run with `--json` that fails prints `{"error": ..., "exit_code": ...}` on stdout, so a
script reading stdout always gets JSON; the one-line reason still goes to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pipelines.settings import SettingsError

EXIT_CONFIG = 3

_JSON_KEY = "customer_sync.json"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[_JSON_KEY] = value
    return value


def json_option(help_text: str = "Print the result as JSON on stdout.") -> Callable[[F], F]:
    """The `--json` flag, passed to the command as `as_json`."""
    return click.option("--json", "as_json", is_flag=True, callback=_remember, help=help_text)


class ConfigProblems(click.ClickException):
    """Missing or invalid configuration: each problem on its own `error:` line, exit 3."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def show(self, file: Any = None) -> None:
        for problem in self.problems:
            click.echo(f"error: {problem}", err=True)


def config_problems(found: list[str]) -> None:
    """Raise ConfigProblems when `found` names any problem."""
    if found:
        raise ConfigProblems(found)


def echo_json_error(ctx: click.Context, exc: click.ClickException) -> None:
    """With `--json` given, the failure as a JSON object on stdout."""
    if not ctx.meta.get(_JSON_KEY):
        return
    body: dict[str, Any] = {"error": exc.format_message(), "exit_code": exc.exit_code}
    if isinstance(exc, ConfigProblems):
        body["problems"] = exc.problems
    click.echo(json.dumps(body))


def required_setting(read: Callable[[], T | None], name: str, hint: str) -> T:
    """A setting a command cannot run without: its value, or ConfigProblems saying it is invalid
    or that `name` is not set, then `hint` (the fix)."""
    try:
        value = read()
    except SettingsError as exc:
        raise ConfigProblems([str(exc)]) from None
    if value is None:
        raise ConfigProblems([f"{name} is not set: {hint}"])
    return value
