"""Reads and writes of the hub's MQTT state (hub.mqtt_tables): identity, slot leases, dead letters.

Below the protocol adapters, as `hub.ingest` is: the MQTT bridge leases its session slot and
keeps what it refused here, and `GET /api/hub/ingest/dead-letters` reads them back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub.mqtt_tables import deployment, mqtt_dead_letters, mqtt_slots

logger = logging.getLogger(__name__)

#: how much of a refused body is kept (bytes of the message, before decoding)
DEAD_LETTER_PAYLOAD_BYTES = 4096
#: how much of a topic and of a reason is kept (characters)
DEAD_LETTER_TEXT = 1000
#: dead letters waiting in memory for the next write; past this the oldest are not kept
DEAD_LETTER_BUFFER = 1000
#: how often waiting dead letters are written (one transaction for all of them)
DEAD_LETTER_FLUSH_SECONDS = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


async def deployment_id(engine: AsyncEngine) -> str:
    """This installation's identity: the random id the first migration wrote.

    Made again (once, whoever comes first) if the row is gone, e.g. after tables were emptied.
    """
    async with engine.begin() as connection:
        found = await connection.scalar(select(deployment.c.id).order_by(deployment.c.created_at))
        if found is not None:
            return str(found)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(deployment).values(id=uuid.uuid4().hex, created_at=_now())
            )
    except IntegrityError:
        pass  # another process made it meanwhile: read theirs
    async with engine.connect() as connection:
        made = await connection.scalar(select(deployment.c.id).order_by(deployment.c.created_at))
    return str(made)


class SlotLost(RuntimeError):
    """Another process holds a slot this process leased (its lease ran out meanwhile)."""


class SlotLeases:
    """The slots one process leases: its own session's, and orphans' it is adopting.

    A slot is free when its lease ran out (its holder died, or released it at a clean stop).
    A process takes the lowest free slot (or the next new one), renews its lease while it
    lives, and gives it up at a clean stop. The conditional UPDATE (or the INSERT's primary
    key) lets exactly one of several processes that race for a slot win it.
    """

    def __init__(self, engine: AsyncEngine, lease_seconds: float) -> None:
        self._engine = engine
        self.lease = timedelta(seconds=lease_seconds)
        #: this process, in the slots it holds
        self.holder = secrets.token_hex(16)

    async def claim_lowest(self) -> int:
        """Lease the lowest free slot, or a new one after the highest; its number."""
        while True:
            async with self._engine.connect() as connection:
                rows = (
                    await connection.execute(
                        select(mqtt_slots.c.slot, mqtt_slots.c.lease_expires_at).order_by(
                            mqtt_slots.c.slot
                        )
                    )
                ).all()
            now = _now()
            for slot, expires in rows:
                if expires <= now and await self.claim(slot):
                    return int(slot)
            taken = {int(slot) for slot, _ in rows}
            new = next(n for n in range(len(taken) + 1) if n not in taken)
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(
                        insert(mqtt_slots).values(
                            slot=new, holder=self.holder, lease_expires_at=now + self.lease
                        )
                    )
            except IntegrityError:
                continue  # another process took that number first: look again
            return new

    async def claim(self, slot: int) -> bool:
        """Lease `slot` if it is free; whether this process got it."""
        now = _now()
        async with self._engine.begin() as connection:
            done = await connection.execute(
                update(mqtt_slots)
                .where(mqtt_slots.c.slot == slot, mqtt_slots.c.lease_expires_at <= now)
                .values(holder=self.holder, lease_expires_at=now + self.lease)
            )
        return done.rowcount == 1

    async def renew(self, slots: list[int]) -> list[int]:
        """Extend the leases of `slots`; those another process holds now (lost)."""
        if not slots:
            return []
        now = _now()
        async with self._engine.begin() as connection:
            await connection.execute(
                update(mqtt_slots)
                .where(mqtt_slots.c.slot.in_(slots), mqtt_slots.c.holder == self.holder)
                .values(lease_expires_at=now + self.lease)
            )
            held = set(
                (
                    await connection.scalars(
                        select(mqtt_slots.c.slot).where(
                            mqtt_slots.c.slot.in_(slots), mqtt_slots.c.holder == self.holder
                        )
                    )
                ).all()
            )
        return [slot for slot in slots if slot not in held]

    async def free_slots(self) -> list[int]:
        """The slots whose lease ran out: orphaned sessions a live process should adopt."""
        async with self._engine.connect() as connection:
            found = await connection.scalars(
                select(mqtt_slots.c.slot)
                .where(mqtt_slots.c.lease_expires_at <= _now())
                .order_by(mqtt_slots.c.slot)
            )
            return [int(slot) for slot in found]

    async def release(self, slot: int) -> None:
        """Free `slot` now (a clean stop): the next process to start takes its session over."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(mqtt_slots)
                .where(mqtt_slots.c.slot == slot, mqtt_slots.c.holder == self.holder)
                .values(lease_expires_at=_now())
            )

    async def forget(self, slot: int) -> None:
        """Remove `slot` (an adopted orphan whose session was drained and ended)."""
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(mqtt_slots).where(
                    mqtt_slots.c.slot == slot, mqtt_slots.c.holder == self.holder
                )
            )


@dataclass(frozen=True)
class DeadLetter:
    """A creation the hub refused (or failed to write), as kept for inspection."""

    received_at: datetime
    topic: str
    payload: bytes
    status: int
    reason: str
    publisher: str

    def row(self) -> dict[str, Any]:
        kept = self.payload[:DEAD_LETTER_PAYLOAD_BYTES]
        # PostgreSQL text takes no NUL character
        text = kept.decode("utf-8", "replace").replace("\x00", "\ufffd")
        return {
            "received_at": self.received_at,
            "topic": self.topic[:DEAD_LETTER_TEXT],
            "payload": text,
            "payload_bytes": len(self.payload),
            "status": self.status,
            "reason": self.reason[:DEAD_LETTER_TEXT],
            "publisher": self.publisher[:200],
        }


class DeadLetterStore:
    """Keeps refused creations in the database, at most `cap` rows, the oldest dropped.

    `keep` never waits for the database: letters wait in a bounded buffer and a background
    task writes them, many in one transaction, so a flood of refusals cannot slow the ingest.
    """

    def __init__(self, engine: AsyncEngine, cap: int) -> None:
        self._engine = engine
        self.cap = cap
        self._waiting: deque[DeadLetter] = deque(maxlen=min(cap, DEAD_LETTER_BUFFER))
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        #: letters kept by this process (written or waiting)
        self.kept = 0
        #: letters not written: the buffer overflowed, or the database refused them
        self.lost = 0

    def keep(self, letter: DeadLetter) -> None:
        if self.cap == 0:
            return
        if len(self._waiting) == self._waiting.maxlen:
            self.lost += 1
        self._waiting.append(letter)
        self.kept += 1
        self._wake.set()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="cityhelix-dead-letters")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.flush()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(DEAD_LETTER_FLUSH_SECONDS)  # gather the next ones

    async def flush(self) -> None:
        """Write what waits, then drop the rows past the cap."""
        if not self._waiting:
            return
        letters = list(self._waiting)
        self._waiting.clear()
        table = mqtt_dead_letters
        newest_dropped = (
            select(table.c.id)
            .order_by(table.c.id.desc())
            .offset(self.cap)
            .limit(1)
            .scalar_subquery()
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(table), [letter.row() for letter in letters])
                await connection.execute(delete(table).where(table.c.id <= newest_dropped))
        except (SQLAlchemyError, OSError):
            self.lost += len(letters)
            logger.exception("could not keep %d refused MQTT creations", len(letters))


async def read_dead_letters(engine: AsyncEngine, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many dead letters are kept, and the newest `limit` of them, newest first."""
    table = mqtt_dead_letters
    async with engine.connect() as connection:
        total = await connection.scalar(select(func.count()).select_from(table))
        rows = (
            await connection.execute(select(table).order_by(table.c.id.desc()).limit(limit))
        ).all()
    letters = [
        {
            "id": row.id,
            "time": row.received_at.isoformat().replace("+00:00", "Z"),
            "topic": row.topic,
            "status": row.status,
            "reason": row.reason,
            "publisher": row.publisher,
            "payload": row.payload,
            "payload_bytes": row.payload_bytes,
            "payload_truncated": row.payload_bytes > DEAD_LETTER_PAYLOAD_BYTES,
        }
        for row in rows
    ]
    return int(total or 0), letters
