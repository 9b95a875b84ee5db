"""``tongdai officers add|list|remove`` as a real process, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from integrations.catalogue_tables import OfficerRow
from integrations.officer_commands import read_password
from integrations.officers import DirectoryError, check_web_login
from tests.support import ROOT


def tongdai(args: list[str], url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TONGDAI_DATABASE_URL": url, "TONGDAI_REGISTRAR__REALM": "tongdai"}
    return subprocess.run(
        [sys.executable, "cli.py", "officers", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_add_list_remove(database: tuple[str, sessionmaker[Session]]) -> None:
    url, factory = database
    added = tongdai(
        ["add", "so-tnmt", "2001", "--name", "Trần Thị Bình", "--password-stdin",
         "--web-login", "binh"],
        url,
        stdin="bí mật 2001\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    with factory() as session:
        row = session.scalars(select(OfficerRow).where(OfficerRow.extension == "2001")).one()
        assert row.department_id == "so-tnmt" and row.name == "Trần Thị Bình"
        secret = b"2001:tongdai:b\xc3\xad m\xe1\xba\xadt 2001"
        assert row.sip_ha1 == hashlib.md5(secret).hexdigest()
        assert row.sip_ha1_sha256 == hashlib.sha256(secret).hexdigest()
        assert "bí mật" not in repr(vars(row))  # only derived secrets are stored
        assert check_web_login(session, login="binh", password="bí mật 2001") is not None

    listed = tongdai(["list"], url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.split()[:4] == ["1001", "so-cong-thuong", "0", "yes"] for line in lines)
    assert any(line.split()[:2] == ["2001", "so-tnmt"] for line in lines)
    only = tongdai(["list", "so-tnmt"], url).stdout
    assert "2001" in only and "1001" not in only

    removed = tongdai(["remove", "2001"], url)
    assert removed.returncode == 0 and "removed" in removed.stdout
    again = tongdai(["remove", "2001"], url)
    assert again.returncode == 1 and "no officer" in again.stderr


BAD_INPUT = [
    (["add", "so-tnmt", "2002", "--name", "X"], "pw\n", "--password-stdin"),
    (["add", "so-tnmt", "2002", "--name", "X", "--password-stdin"], "\n", "no password"),
    (["add", "khong-co", "2002", "--name", "X", "--password-stdin"], "pw\n", "unknown depart"),
    (["add", "so-tnmt", "20 02", "--name", "X", "--password-stdin"], "pw\n", "extension"),
]


def test_bad_input_is_refused_and_writes_nothing(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = database
    for args, stdin, message in BAD_INPUT:
        result = tongdai(args, url, stdin=stdin)
        assert result.returncode == 2, args
        assert message in result.stderr
    with factory() as session:
        assert session.scalars(select(OfficerRow.extension)).all() == ["1001"]


def test_read_password_limits() -> None:
    assert read_password(io.StringIO("secret\r\nnext line\n")) == "secret"
    with pytest.raises(DirectoryError):
        read_password(io.StringIO(""))
    with pytest.raises(DirectoryError):
        read_password(io.StringIO("x" * 300))


def test_queue_state_and_show(database: tuple[str, sessionmaker[Session]]) -> None:
    url, _ = database

    def queue(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TONGDAI_DATABASE_URL": url}
        return subprocess.run(
            [sys.executable, "cli.py", "queue", *args],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
        )  # fmt: skip

    assert queue("state", "1001", "available").stdout.strip() == "1001 (so-cong-thuong): available"
    shown = queue("show", "so-cong-thuong").stdout.split()
    assert shown[:3] == ["officer", "1001", "available"]
    unknown = queue("state", "9999", "break")
    assert unknown.returncode == 1 and "no officer" in unknown.stderr
