"""Bad configuration is refused before any work: every bad variable named, one line each, exit 3,
not one request sent."""

from __future__ import annotations

import subprocess

import pytest

from tests.clirun import clean_env, run_cli


def _cli(*args: str, **env_vars: str) -> subprocess.CompletedProcess:
    return run_cli(*args, env=clean_env(**env_vars))


@pytest.mark.attack("11.17 several bad variables: all named at once, exit 3, no request sent")
def test_every_bad_variable_is_named_before_any_request(hostile, tmp_path):
    (tmp_path / "suites").write_text("not a folder")
    bad = {
        "CUSTOMER_SYNC_MAX_RPS": "-1",
        "CUSTOMER_SYNC_CONCURRENCY": "zero",
        "CUSTOMER_SYNC_MAX_BAD_SHARE": "2",
        "CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT": "soon",
        "CUSTOMER_SYNC_SEGMENTS": "vip;;+",
        "CUSTOMER_SYNC_EXPECTATIONS_DIR": str(tmp_path / "suites"),
        "CUSTOMER_SYNC_LAKE_URL": "gs://bucket/lake",
    }
    for command in ("sync", "reconcile"):
        done = _cli(
            command,
            VIVENU_BASE_URL=hostile.base_url,
            CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "data"),
            **bad,
        )
        assert done.returncode == 3, done.stderr
        lines = done.stderr.strip().splitlines()
        for name in (*bad, "VIVENU_API_KEY"):
            assert sum(name in line for line in lines) == 1, (name, done.stderr)
        assert len(lines) == len(bad) + 1, done.stderr
        assert "CUSTOMER_SYNC_MAX_RPS=-1: must be > 0" in done.stderr
        assert "max_rps must be" not in done.stderr and "Traceback" not in done.stderr
    assert sum(hostile.hits.values()) == 0
    assert not (tmp_path / "data").exists()


@pytest.mark.attack("11.17 CUSTOMER_SYNC_SEGMENTS='vip;;+' refused up front with exit 3")
def test_bad_segments_refused_before_the_sync(hostile, tmp_path):
    done = _cli(
        "sync",
        "--json",
        VIVENU_BASE_URL=hostile.base_url,
        VIVENU_API_KEY="sim-key",
        CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
        CUSTOMER_SYNC_SEGMENTS="vip;;+",
    )
    assert done.returncode == 3, done.stderr
    assert "CUSTOMER_SYNC_SEGMENTS='vip;;+'" in done.stderr.strip().splitlines()[-1]
    assert sum(hostile.hits.values()) == 0


@pytest.mark.attack("11.17 a bad segments.json in the data dir refused up front with exit 3")
def test_bad_segments_file_refused_before_the_sync(hostile, tmp_path):
    (tmp_path / "segments.json").write_text('[{"tags": []}]')
    done = _cli(
        "reconcile",
        VIVENU_BASE_URL=hostile.base_url,
        VIVENU_API_KEY="sim-key",
        CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 3, done.stderr
    assert "segments.json" in done.stderr
    assert sum(hostile.hits.values()) == 0
