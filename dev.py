#!/usr/bin/env python3
"""Set-up and the two everyday commands, with nothing but Python >= 3.11 on the machine.

    python3 dev.py demo [--port 8000]   # install, then run the demo (console, API, worker)
    python3 dev.py test [pytest args]   # install, then run the test suite

It makes .venv, puts the pinned uv in it, and installs exactly the lock file (uv.lock).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SIYU_VENV", ROOT / ".venv"))
UV_VERSION = "0.13.8"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Siyu needs Python >= 3.11; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        run([sys.executable, "-m", "venv", VENV])
    uv = BIN / "uv"
    if not uv.exists():
        if subprocess.run([str(BIN / "python"), "-m", "pip", "--version"], capture_output=True).returncode != 0:
            run([BIN / "python", "-m", "ensurepip", "--upgrade"])  # a venv made without pip
        run([BIN / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV), "UV_PYTHON_DOWNLOADS": "never"}
    run([uv, "sync", "--locked", "--quiet", "--python", BIN / "python"], cwd=ROOT, env=env)


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


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "siyu"}:
        sys.exit(__doc__)
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_env()
    os.chdir(ROOT)
    if command == "demo":
        os.execv(BIN / "siyu", [str(BIN / "siyu"), "demo", *rest])
    if command == "siyu":
        os.execv(BIN / "siyu", [str(BIN / "siyu"), *rest])
    ensure_browser()
    os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *rest])


if __name__ == "__main__":
    main()
