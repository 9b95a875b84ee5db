"""The screen-pop: what an officer sees when their phone rings, built from the call's stored
events (who calls, the menu path, the dossier and its status, what the caller said, the wait).

Numbers are masked unless the user's role may see personal data; the dossier code keeps its
shape (its groups are shorter than a phone number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.privacy import mask_numbers_in
from ivr.calllog.tables import CallEventRow, CallRow
from web.console_data import masked

RINGING_KIND = "officer-ringing"
MAX_PATH_NODES = 30  # a caller going round in circles: the last nodes tell enough


@dataclass
class ScreenPop:
    """One ringing call, as the console shows it."""

    event_id: int
    call_id: str
    officer: str
    department: str
    caller: str
    waited_s: float
    menu_path: list[str] = field(default_factory=list)
    dossier_code: str = ""
    dossier_status: str = ""
    dossier_found: bool | None = None
    caller_check: str = ""
    reason: str = ""
    said: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The pop as the browser receives it."""
        return asdict(self)


def build_pop(
    event_id: int,
    ringing: dict[str, Any],
    caller: str,
    events: list[tuple[str, dict[str, Any]]],
    *,
    personal: bool,
) -> ScreenPop:
    """The pop of a ringing event (`ringing`: its payload) from the call's events in order."""
    pop = ScreenPop(
        event_id=event_id,
        call_id="",
        officer=str(ringing.get("officer", "")),
        department=str(ringing.get("department", "")),
        caller=masked(caller, personal) if caller else "",
        waited_s=float(ringing.get("waited_s") or 0.0),
    )
    for kind, payload in events:
        _apply(pop, kind, payload)
    pop.menu_path = pop.menu_path[-MAX_PATH_NODES:]
    if not personal:
        pop.said = [mask_numbers_in(text) for text in pop.said]
        pop.reason = mask_numbers_in(pop.reason)
        pop.dossier_status = mask_numbers_in(pop.dossier_status)
    return pop


def _apply(pop: ScreenPop, kind: str, payload: dict[str, Any]) -> None:
    if kind == "node-entered":
        node = str(payload.get("node_id", ""))
        if node and (not pop.menu_path or pop.menu_path[-1] != node):
            pop.menu_path.append(node)
    elif kind == "lookup-done" and payload.get("lookup") == "dossier":
        pop.dossier_code = str(payload.get("key", ""))
        pop.dossier_found = bool(payload.get("found"))
        pop.dossier_status = str(payload.get("detail", ""))
    elif kind == "caller-check":
        pop.caller_check = str(payload.get("result", ""))
    elif kind == "speech-recognized" and payload.get("text"):
        pop.said.append(str(payload["text"]))
    elif kind == "input-received" and payload.get("mode") == "dtmf":
        pop.said.append(f"[phím] {payload.get('value', '')}")
    elif kind == "transfer-requested" and payload.get("reason"):
        pop.reason = str(payload["reason"])


def load_pop(session: Session, event_id: int, call_id: str, ringing: dict[str, Any],
             *, personal: bool) -> ScreenPop:  # fmt: skip
    """The pop of ringing event `event_id` of call `call_id`, from the database."""
    call = session.get(CallRow, call_id)
    rows = session.execute(
        select(CallEventRow.kind, CallEventRow.payload)
        .where(CallEventRow.call_id == call_id, CallEventRow.id <= event_id)
        .order_by(CallEventRow.seq)
    ).all()
    events = [(kind, dict(payload or {})) for kind, payload in rows]
    pop = build_pop(event_id, ringing, call.caller if call else "", events, personal=personal)
    pop.call_id = call_id
    return pop
