#!/usr/bin/env python3
"""Set-up and the two everyday commands, with nothing but Python >= 3.11 on the machine.

    python3 dev.py demo [--port 8000]   # install, then run the demo (console, API, worker)
    python3 dev.py test [pytest args]   # install, then run the test suite
    python3 dev.py lint                 # ruff (lint and format) and import-linter's layer contracts
    python3 dev.py bench customer_value.py [args]   # also the benchmark extras, then a benchmark

It makes .venv, puts the pinned uv in it, and installs exactly the lock file (uv.lock); the
console's browser libraries come from the npm registry as package-lock.json pins them.
"""

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SIYU_VENV", ROOT / ".venv"))
UV_VERSION = "0.13.8"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# Browser libraries the console serves: package -> files taken from its npm tarball. Versions and
# checksums come from package-lock.json; the files land in a git-ignored static folder.
ASSETS = {"echarts": ["dist/echarts.min.js", "LICENSE"]}
ASSET_DIR = ROOT / "src" / "siyu" / "console" / "static" / "vendor"
NPM_REGISTRY = os.environ.get("SIYU_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def ensure_env(groups: tuple[str, ...] = ()) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 — this file runs on whatever python3 the machine has
        sys.exit(f"Siyu needs Python >= 3.11; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        run([sys.executable, "-m", "venv", VENV])
    uv = BIN / "uv"
    if not uv.exists():
        if subprocess.run([str(BIN / "python"), "-m", "pip", "--version"], capture_output=True).returncode != 0:
            run([BIN / "python", "-m", "ensurepip", "--upgrade"])  # a venv made without pip
        run([BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV), "UV_PYTHON_DOWNLOADS": "never"}
    extra = [arg for group in groups for arg in ("--group", group)]
    run([uv, "sync", "--locked", "--quiet", *extra, "--python", BIN / "python"], cwd=ROOT, env=env)


def ensure_assets() -> None:
    """Fetch the console's browser libraries from the npm registry (no Node.js needed), verified
    against the lock file's sha512; done once per locked version."""
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, files in ASSETS.items():
        entry = lock[f"node_modules/{name}"]
        target = ASSET_DIR / name
        stamp = target / ".integrity"
        if stamp.exists() and stamp.read_text() == entry["integrity"] and all((target / Path(f).name).exists() for f in files):
            continue
        url = f"{NPM_REGISTRY}/{name}/-/{name.split('/')[-1]}-{entry['version']}.tgz"
        print(f"+ fetch {url}", flush=True)
        with urllib.request.urlopen(url, timeout=120) as response:
            body = response.read()
        algorithm, _, expected = entry["integrity"].partition("-")
        if base64.b64encode(hashlib.new(algorithm, body).digest()).decode() != expected:
            sys.exit(f"{url} does not match the integrity in package-lock.json; refusing to use it.")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            for f in files:
                (target / Path(f).name).write_bytes(tar.extractfile(f"package/{f}").read())
        stamp.write_text(entry["integrity"])


def ensure_browser() -> None:
    """The browser tests drive Debian's Chromium; CJK fonts make Chinese screenshots legible."""
    have_fonts = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists()
    if shutil.which("chromium") and have_fonts:
        return
    if os.name == "posix" and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"], env=env, stdout=subprocess.DEVNULL)
    else:
        print("note: Chromium not found and cannot be installed here (needs root and apt-get); browser tests will be skipped.")


def lint() -> int:
    """Every check, all reported, failing if any failed: style, formatting, then the layers."""
    paths = ["src", "tests", "benchmarks", "dev.py"]
    checks = [
        [BIN / "ruff", "check", *paths],
        [BIN / "ruff", "format", "--check", *paths],
        [BIN / "lint-imports"],
    ]
    failed = 0
    for cmd in checks:
        print("+", " ".join(str(c) for c in cmd), flush=True)
        failed += subprocess.run([str(c) for c in cmd], env={**os.environ, "PYTHONPATH": str(ROOT / "src")}).returncode != 0
    return 1 if failed else 0


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "siyu", "bench", "lint"}:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "bench":
        # pandas and DuckDB are only the benchmarks' yardsticks, not Siyu's dependencies.
        if not rest:
            sys.exit("python3 dev.py bench SCRIPT [args]: a script in benchmarks/, e.g. customer_value.py")
        ensure_env(("bench",))
        os.chdir(ROOT)
        os.execv(BIN / "python", [str(BIN / "python"), str(ROOT / "benchmarks" / rest[0]), *rest[1:]])
    ensure_env()
    os.chdir(ROOT)
    if command == "lint":
        sys.exit(lint())
    ensure_assets()
    if command == "demo":
        os.execv(BIN / "siyu", [str(BIN / "siyu"), "demo", *rest])
    if command == "siyu":
        os.execv(BIN / "siyu", [str(BIN / "siyu"), *rest])
    ensure_browser()
    # One pytest worker per core (pytest-xdist): the suite is mostly waiting on databases, servers
    # and the browser, so it halves the time on two cores. `-n 0` runs it in one process. A worker
    # that runs out of tests takes some of the other's (worksteal): a few tests take a minute or two
    # (the demo, the browser walk, the migrations) and would otherwise leave a core idle at the end.
    parallel = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in rest) else ["-n", "auto", "--dist", "worksteal"]
    os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *parallel, *rest])


if __name__ == "__main__":
    main()
