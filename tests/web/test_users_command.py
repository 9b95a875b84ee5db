"""``tongdai users`` and ``tongdai web check`` as a script runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def tongdai(
    args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "cli.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_first_admin_tokens_and_removal(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}",
        "TONGDAI_DATA_DIR": str(tmp_path / "var"),
    }
    env.pop("TONGDAI_WEB__SECRET_KEY", None)
    check = tongdai(["web", "check"], env)
    assert check.returncode == 0 and "users add admin --role admin --password-stdin" in check.stdout
    key_file = tmp_path / "var" / "web_secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # each run starts the whole console (about 5 s), so one run per behaviour
    added = tongdai(
        ["users", "add", "hoa", "--role", "admin", "--password-stdin"], env, "một mật khẩu dài đủ\n"
    )
    assert added.returncode == 0, added.stderr
    short = tongdai(["users", "add", "nam", "--role", "viewer", "--password-stdin"], env, "abc\n")
    assert short.returncode == 2 and "shorter" in short.stderr
    token = tongdai(["users", "token", "hoa", "--role", "editor"], env)
    assert token.returncode == 0 and token.stdout.startswith("td_")
    last_admin = tongdai(["users", "remove", "hoa"], env)
    assert last_admin.returncode == 2 and "last admin" in last_admin.stderr
    listed = tongdai(["users", "list"], env).stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["hoa", "admin"]]


def test_placeholder_key_refuses_to_start_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": f"sqlite:///{tmp_path / 'u.db'}",
        "TONGDAI_WEB__SECRET_KEY": "change-me",
    }
    check = tongdai(["web", "check"], env)
    assert check.returncode == 2 and check.stderr.count("\n") == 1
    assert "placeholder" in check.stderr
    served = subprocess.run(
        [sys.executable, "-c", "import server; server.create_app()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2
    assert served.stderr.strip().startswith("tongdai: refusing to start: web.secret_key")
    assert served.stderr.count("\n") == 1
