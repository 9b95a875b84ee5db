"""schemathesis against the app's OpenAPI schema, on a real uvicorn process, with an admin's
API token: no operation answers with a server error (a bounded run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import need
from tests.web.served import served_web
from web.roles import Role

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 15


def test_no_server_errors_under_schemathesis(tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "schemathesis"
    need(executable.exists() or shutil.which("schemathesis"), "schemathesis not installed")
    with served_web(tmp_path) as web:
        done = subprocess.run(
            [str(executable), "run", f"{web.base}/openapi.json",
             "-H", f"Authorization: Bearer {web.tokens[Role.ADMIN]}",
             "--checks", "not_a_server_error", "--max-examples", str(MAX_EXAMPLES),
             "--seed", "20261202", "--request-timeout", "20",
             "--phases", "examples,coverage,fuzzing"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    report = done.stdout[-12000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts is not None and counts.group(1) == counts.group(2), report
    assert int(counts.group(1)) >= 200, report  # the run really exercised the API
