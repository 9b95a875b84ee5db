"""The registrar's database side: officers' digest secrets and their devices' bindings.

Every worker process and the web app read the same ``sip_bindings`` rows, so with
``serve --workers N`` a phone registered through one worker is reachable from a call carried by
another. Database work runs in a thread: the media loop never waits on it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from integrations.officers import sip_secrets
from integrations.registrar_tables import SipBindingRow
from ivr.sip.bindings import Binding, BindingChange, Credentials, expiry_order


class DbRegistry:
    """:class:`~ivr.sip.bindings.CredentialSource` and :class:`~ivr.sip.bindings.BindingStore`
    over the officer directory's tables."""

    def __init__(self, factory: sessionmaker[Session], *, realm: str) -> None:
        self._factory = factory
        self._realm = realm

    async def credentials(self, username: str) -> Credentials | None:
        """The officer's HA1s, when they were computed in the registrar's realm."""
        return await asyncio.to_thread(self._credentials, username)

    async def bindings(self, username: str, *, now: float) -> list[Binding]:
        """Unexpired bindings, the first to expire first."""
        return await asyncio.to_thread(self._bindings, username, now)

    async def apply(self, change: BindingChange, *, now: float) -> list[Binding]:
        """One REGISTER's change in one transaction."""
        return await asyncio.to_thread(self._apply, change, now)

    def _credentials(self, username: str) -> Credentials | None:
        with self._factory() as session:
            secrets = sip_secrets(session, extension=username)
        if secrets is None or secrets.realm != self._realm:
            return None
        ha1 = {"MD5": secrets.ha1_md5, "SHA-256": secrets.ha1_sha256}
        return Credentials(username, secrets.realm, {k: v for k, v in ha1.items() if v})

    def _bindings(self, username: str, now: float) -> list[Binding]:
        with self._factory() as session:
            return _current(session, username, now)

    def _apply(self, change: BindingChange, now: float) -> list[Binding]:
        with unit_of_work(self._factory) as session:
            rows = session.scalars(
                select(SipBindingRow).where(SipBindingRow.username == change.username)
            ).all()
            kept: dict[str, SipBindingRow] = {}
            for row in rows:
                if row.expires_at <= now or change.remove_all or row.contact in change.remove:
                    session.delete(row)
                else:
                    kept[row.contact] = row
            for binding in change.upsert:
                if binding.contact not in kept:
                    fresh = SipBindingRow(username=binding.username, contact=binding.contact)
                    session.add(fresh)
                    kept[binding.contact] = fresh
                row = kept[binding.contact]
                row.source, row.call_id, row.cseq = binding.source, binding.call_id, binding.cseq
                row.user_agent, row.registered_at = binding.user_agent, binding.registered_at
                row.expires_at = binding.expires_at
            session.flush()  # new rows become persistent, so the cap below may delete them
            ordered = sorted(kept.values(), key=lambda r: (r.expires_at, r.contact))
            for row in ordered[: max(0, len(ordered) - change.max_devices)]:
                session.delete(row)
            session.flush()
            return _current(session, change.username, now)


def _current(session: Session, username: str, now: float) -> list[Binding]:
    stmt = select(SipBindingRow).where(
        SipBindingRow.username == username, SipBindingRow.expires_at > now
    )
    return sorted((_binding(row) for row in session.scalars(stmt)), key=expiry_order)


def _binding(row: SipBindingRow) -> Binding:
    return Binding(
        username=row.username,
        contact=row.contact,
        source=row.source,
        call_id=row.call_id,
        cseq=row.cseq,
        registered_at=row.registered_at,
        expires_at=row.expires_at,
        user_agent=row.user_agent,
    )
