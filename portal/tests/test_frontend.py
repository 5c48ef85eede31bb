"""The browser uploader (frontend/): its own Node tests pass, and the bundle the portal serves is
the one its source builds to (a stale static/js/upload.js would ship old behaviour)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"


@pytest.fixture(scope="module")
def npm():
    found = shutil.which("npm")
    installed = (FRONTEND / "node_modules").is_dir()
    if not (found and installed):
        if os.environ.get("CI"):
            pytest.fail("Node/npm and frontend/node_modules are needed; scripts/bootstrap "
                        "--system installs them")
        pytest.skip("Node.js or frontend/node_modules missing (run scripts/bootstrap --system)")
    return found


def test_the_uploader_passes_its_own_tests(npm):
    result = subprocess.run([npm, "test", "--silent"], cwd=FRONTEND, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout


def test_the_served_bundle_is_built_from_the_current_source(npm, tmp_path):
    fresh = tmp_path / "upload.js"
    result = subprocess.run(["node", "build.mjs", str(fresh)], cwd=FRONTEND, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert fresh.read_bytes() == (ROOT / "static/js/upload.js").read_bytes(), \
        "static/js/upload.js is stale: run `npm run build` in frontend/"
