"""Officers' softphones for end-to-end tests: baresip registered with digest credentials."""

from __future__ import annotations

import shutil

from tests.e2e.baresip_peer import MODULE_DIRS, REQUIRED_MODULES, BaresipPeer, find_module_dir
from tests.e2e.harness import free_port, free_port_pair, media_range
from tests.support import need


def officer_phone(
    registrar_port: int,
    user: str,
    password: str,
    *,
    regint_s: int = 600,
    answer: str = "manual",
    tone_hz: float = 440.0,
) -> BaresipPeer:
    """A baresip that registers ``sip:user@127.0.0.1`` at 127.0.0.1:registrar_port."""
    executable = shutil.which("baresip")
    need(executable, "baresip is not installed (Debian package baresip-core)")
    module_dir = find_module_dir()
    need(module_dir, f"baresip modules {', '.join(REQUIRED_MODULES)} not found in {MODULE_DIRS}")
    assert executable is not None and module_dir is not None
    account = (
        f"<sip:{user}@127.0.0.1:{registrar_port};transport=udp>;auth_pass={password};"
        f"regint={regint_s};answermode={answer}"
    )
    return BaresipPeer(
        sip_port=free_port_pair(),  # baresip also binds TLS on the next port
        ctrl_port=free_port(),
        rtp_ports=media_range(10),
        module_dir=module_dir,
        executable=executable,
        account=account,
        tone_hz=tone_hz,
    )


def caller_phone(tone_hz: float = 440.0) -> BaresipPeer:
    """A baresip citizen's phone (no registration) with a tone as its microphone."""
    executable = shutil.which("baresip")
    need(executable, "baresip is not installed (Debian package baresip-core)")
    module_dir = find_module_dir()
    need(module_dir, f"baresip modules {', '.join(REQUIRED_MODULES)} not found in {MODULE_DIRS}")
    assert executable is not None and module_dir is not None
    return BaresipPeer(
        sip_port=free_port_pair(),
        ctrl_port=free_port(),
        rtp_ports=media_range(10),
        module_dir=module_dir,
        executable=executable,
        tone_hz=tone_hz,
    )
