"""Does ``pip install desktop-ft`` (and its ``[torch]`` and ``[jax]`` extras) resolve on
Windows x86_64, macOS arm64 and Linux x86_64 with Python 3.12? Checked without installing
anything, by ``uv pip compile --python-platform``, which evaluates the environment
markers (``platform_system != "Windows"``) for the target platform. (pip's ``--platform``
evaluates them for the machine it runs on, so a marker would not take effect there.)

    python scripts/check_install.py          # one line per platform and extra (none,
                                             # [torch], [jax])

Prints one line per resolution and exits 1 if any fails, with uv's explanation. README's
test command (and so ``.ci/run``) runs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {"Windows x86_64": "x86_64-pc-windows-msvc",
             "macOS arm64": "aarch64-apple-darwin",
             "Linux x86_64": "x86_64-unknown-linux-gnu"}
EXTRAS = (None, "torch", "jax")
PYTHON = "3.12"


def compile_command(uv: str, platform: str, extra: str | None) -> list[str]:
    return [uv, "pip", "compile", str(ROOT / "pyproject.toml"), "--quiet",
            *(["--extra", extra] if extra else []),
            "--python-platform", platform, "--python-version", PYTHON,
            # uv would otherwise try to download a Python 3.12 first (and wait for the
            # network to fail); resolving needs only the wheels' tags.
            "--no-python-downloads", "--output-file", "/dev/null"]


def resolve(uv: str, name: str, extra: str | None) -> tuple[str, bool, str]:
    """(line to print, resolved, uv's message)."""
    t0 = time.monotonic()
    proc = subprocess.run(compile_command(uv, PLATFORMS[name], extra), capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    label = f"{name}, Python {PYTHON}, desktop-ft{f'[{extra}]' if extra else ''}"
    verdict = "resolves" if proc.returncode == 0 else "DOES NOT RESOLVE"
    return (f"{label}: {verdict} ({time.monotonic() - t0:.1f} s)", proc.returncode == 0,
            proc.stderr.strip())


def main() -> int:
    uv = shutil.which("uv")
    if uv is None:
        print("check_install: uv is not installed (pip install uv; it is in the [test] "
              "extra)", file=sys.stderr)
        return 1
    jobs = [(name, extra) for name in PLATFORMS for extra in EXTRAS]
    # The resolutions wait on the package index, not the CPU: run them side by side.
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: resolve(uv, *job), jobs))
    failed = 0
    for line, ok, message in results:
        print(line)
        if not ok:
            failed += 1
            print("  " + message.replace("\n", "\n  "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
