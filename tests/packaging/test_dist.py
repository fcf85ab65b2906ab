"""The distributions: ``python -m build`` gives a wheel and an sdist that carry every
file of the package, pass ``twine check``, and install into a fresh virtual environment
where ``nexus-lsp --version`` and ``nexus-lsp demo`` run from the installed copy.

Offline: the build uses the project venv's setuptools (``--no-isolation``), and the
fresh venv gets the wheel alone (``--no-deps --no-index``) with the project venv's
site-packages appended to its path for the dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180.0


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _offline_env(**extra: str) -> dict[str, str]:
    """The environment without the machine's pip configuration (no index, no find-links)
    and without API keys."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env = {k: v for k, v in env.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", NO_COLOR="1")
    env.update(extra)
    return env


def _tracked_files() -> list[str]:
    return subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    # Built from a copy of the project's files as a fresh clone has them: a leftover
    # *.egg-info in the checkout would list data files the configuration forgot.
    source = tmp_path_factory.mktemp("source")
    for name in _tracked_files():
        if (ROOT / name).is_file() and not name.startswith(("editors/", "tests/", "bench/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # The sdist first, then the wheel built from the unpacked sdist: a file missing from
    # the sdist would be missing from the wheel too.
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        cwd=out,
        env=_offline_env(),
    )
    wheels = sorted(out.glob("*.whl"))
    sdists = sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    yield wheels[0], sdists[0]


def _package_files() -> set[str]:
    """Every file of the nexus_lsp package in the checkout (code and data)."""
    listed = {name for name in _tracked_files() if name.startswith("nexus_lsp/")}
    assert {"nexus_lsp/py.typed", "nexus_lsp/storage/schema.sql"} <= listed
    return listed


def test_the_wheel_and_sdist_carry_every_package_file(dist: tuple[Path, Path]) -> None:
    wheel, sdist = dist
    expected = _package_files()
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
    assert sorted(expected - in_wheel) == []
    with tarfile.open(sdist) as tf:
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    assert sorted(expected - in_sdist) == []
    assert {"pyproject.toml", "README.md", "LICENSE"} <= in_sdist


def test_the_metadata_is_complete_and_twine_check_passes(dist: tuple[Path, Path]) -> None:
    wheel, sdist = dist
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
        entry_points = zf.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "Name: nexus-lsp" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "Requires-Dist: pygls" in metadata
    assert "nexus-lsp = nexus_lsp.cli:main" in entry_points
    output = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        cwd=wheel.parent,
        env=_offline_env(),
    )
    assert output.count("PASSED") == 2, output


def test_the_wheel_installs_into_a_fresh_venv_and_runs(
    dist: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, _ = dist
    venv = tmp_path / "venv"
    # Without pip (ensurepip takes seconds); the project's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    env = _offline_env(TMPDIR=str(tmp_path))
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
        + ["--no-deps", "--no-index", str(wheel)],
        cwd=tmp_path,
        env=env,
    )
    # The dependencies (and aiohttp, for the demo) from the project venv, after the
    # venv's own site-packages, where the installed nexus_lsp comes first.
    where = "import site; print(site.getsitepackages()[0])"
    site = Path(_run([str(python), "-c", where], tmp_path).strip())
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    located = _run([str(python), "-c", "import nexus_lsp; print(nexus_lsp.__file__)"], tmp_path)
    assert Path(located.strip()).is_relative_to(venv), located

    command = venv / "bin" / "nexus-lsp"
    version = _run([str(command), "--version"], cwd=tmp_path, env=env)
    wheel_version = wheel.name.split("-")[1]
    assert version.strip() == f"nexus-lsp {wheel_version}"

    demo = _run([str(command), "demo"], cwd=tmp_path, env=env)
    assert "⚙ edit_file greet.py … ok" in demo
    assert "✓ done" in demo
