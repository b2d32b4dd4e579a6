"""No suites is a configuration error, never a passing gate; the wheel ships the suites."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.quality import validate_snapshot
from pipelines.quality.cli import validate
from pipelines.quality.suites import EXPECTATIONS_DIR, NoSuites, load_suites
from pipelines.sync.lake import Lake

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"


@pytest.mark.attack("11.20 a wrong CUSTOMER_SYNC_EXPECTATIONS_DIR turns the gate off")
def test_missing_or_empty_suites_folder_is_a_configuration_error(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("CUSTOMER_SYNC_EXPECTATIONS_DIR", str(missing))
    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(NoSuites, match=r"CUSTOMER_SYNC_EXPECTATIONS_DIR=.*is not a folder"):
        validate_snapshot(Lake(tmp_path / "data"), "customers")

    result = CliRunner().invoke(validate, [])
    assert result.exit_code == 3
    (line,) = result.stderr.strip().splitlines()
    assert "no expectation suites" in line and "CUSTOMER_SYNC_EXPECTATIONS_DIR" in line
    assert "passed" not in result.output

    # A folder with suites for one resource only leaves the other without a gate.
    only_customers = tmp_path / "only-customers"
    only_customers.mkdir()
    (only_customers / "customers.json").write_bytes(
        (EXPECTATIONS_DIR / "customers.json").read_bytes()
    )
    with pytest.raises(NoSuites, match="for transactions"):
        load_suites(only_customers, resource="transactions")


@pytest.mark.attack("11.20 sync with no suites exits 3 before any work")
def test_sync_without_suites_exits_3_before_any_work(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    env.update(
        VIVENU_BASE_URL="http://127.0.0.1:9",  # never contacted
        VIVENU_API_KEY="k",
        CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "data"),
        CUSTOMER_SYNC_EXPECTATIONS_DIR=str(tmp_path / "nothing"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sync", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "no expectation suites" in done.stderr
    assert not (tmp_path / "data" / "lake").exists()


@pytest.mark.attack("11.20 the wheel ships no expectations/")
def test_the_wheel_ships_the_suites_and_an_install_reads_them(tmp_path):
    if not UV.exists():
        pytest.skip("no .tools/bin/uv (run make first)")
    subprocess.run(
        [str(UV), "build", "--wheel", "--offline", "-o", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    sources = sorted(p.name for p in EXPECTATIONS_DIR.glob("*.json"))
    with zipfile.ZipFile(wheel) as z:
        shipped = sorted(
            Path(n).name for n in z.namelist() if n.startswith("pipelines/quality/expectations/")
        )
        z.extractall(tmp_path / "site")
    assert shipped == sources and len(sources) >= 6

    # Imported from the unpacked wheel (no source checkout around it), the gate finds them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMER_SYNC_")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    probe = (
        "import pipelines.quality.suites as s; "
        "print(s.__file__); print(s.suites_dir()); print(len(s.load_suites()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    module, folder, count = done.stdout.split()
    site = str(tmp_path / "site")
    assert module.startswith(site) and folder.startswith(site) and int(count) == len(sources)
