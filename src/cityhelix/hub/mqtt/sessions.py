"""Each hub process's persistent MQTT session, leased as a numbered slot in the database.

A process takes the lowest free slot and connects as `cityhelix-<deployment>-<slot>` with a
persistent session: a replacement takes the session over, with what the broker kept. While it
lives it renews its lease and adopts the slots whose lease ran out (their process died and
no new one took them): it drains such a session and ends it, so that no reading stays
stranded in the session of a process that never comes back.
"""

from __future__ import annotations

import asyncio
import logging

import aiomqtt
from sqlalchemy.exc import SQLAlchemyError

from cityhelix.hub.mqtt.links import ExternalLink, Session
from cityhelix.hub.mqtt_state import SlotLeases

logger = logging.getLogger(__name__)


def slot_client_id(deployment: str, slot: int) -> str:
    """The MQTT client id of a slot: at most 23 characters, as MQTT 3.1.1 servers require."""
    return f"cityhelix-{deployment[:8]}-{slot}"


class SlotKeeper:
    """Keeps this process's slot leased, and adopts orphaned slots, in the background.

    `lost` is set when another process took this process's slot (its lease had run out,
    e.g. the database was out of reach longer than a lease); the bridge then reconnects
    under `take_new_slot`'s id, as two connections with one id would take it from each other.
    """

    def __init__(self, leases: SlotLeases, deployment: str, session_expiry: int) -> None:
        self._leases = leases
        self._deployment = deployment
        self._expiry = session_expiry
        self.slot = -1
        self._adopting: set[int] = set()
        self.adopted = 0
        self.lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def take_slot(self) -> Session:
        """Lease the lowest free slot; the persistent session that goes with it."""
        self.slot = await self._leases.claim_lowest()
        self.lost.clear()
        logger.info(
            "MQTT session slot %d: client id %s (persistent)",
            self.slot,
            slot_client_id(self._deployment, self.slot),
        )
        return Session(slot_client_id(self._deployment, self.slot), True, self._expiry, self.slot)

    def start(self, link: ExternalLink) -> None:
        self._task = asyncio.create_task(self._keep(link), name="cityhelix-mqtt-slots")

    async def stop_adopting(self) -> None:
        """Stop adopting (a session being drained stays in the broker) and renewing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def stop(self) -> None:
        """Stop adopting; free this process's slot for the next one to start (once this
        process's connection is closed: a successor with its id would take it over)."""
        await self.stop_adopting()
        if self.slot >= 0 and not self.lost.is_set():
            slot, self.slot = self.slot, -1  # once, however often stop is called
            try:
                await self._leases.release(slot)
            except (SQLAlchemyError, OSError):
                logger.warning("could not free MQTT slot %d; it is free when its lease ends", slot)

    async def _keep(self, link: ExternalLink) -> None:
        every = self._leases.lease.total_seconds() / 3
        adoptions: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    await self._renew_and_adopt(link, adoptions)
                except (SQLAlchemyError, OSError) as error:
                    logger.warning("cannot renew the MQTT slot leases: %s", error)
                await asyncio.sleep(every)
        finally:
            for adoption in adoptions:
                adoption.cancel()
            await asyncio.gather(*adoptions, return_exceptions=True)

    async def _renew_and_adopt(
        self, link: ExternalLink, adoptions: set[asyncio.Task[None]]
    ) -> None:
        held = [self.slot, *self._adopting] if not self.lost.is_set() else [*self._adopting]
        lost = await self._leases.renew(held)
        if self.slot in lost and not self.lost.is_set():
            logger.error(
                "another process took MQTT slot %d (its lease ran out): reconnecting with a "
                "new slot",
                self.slot,
            )
            self.lost.set()
        for slot in await self._leases.free_slots():
            if slot == self.slot or slot in self._adopting:
                continue
            if not await self._leases.claim(slot):
                continue
            self._adopting.add(slot)
            adoption = asyncio.create_task(self._adopt(link, slot))
            adoptions.add(adoption)
            adoption.add_done_callback(adoptions.discard)

    async def _adopt(self, link: ExternalLink, slot: int) -> None:
        identifier = slot_client_id(self._deployment, slot)
        logger.info("adopting MQTT slot %d (%s): its process is gone", slot, identifier)
        try:
            await link.drain_session(identifier)
            await self._leases.forget(slot)
            self.adopted += 1
            logger.info("MQTT slot %d drained and its session ended", slot)
        except* (aiomqtt.MqttError, SQLAlchemyError, OSError) as errors:
            # its lease runs out again and it is adopted later, by this process or another
            logger.warning("could not drain MQTT slot %d: %s", slot, errors.exceptions[0])
        finally:
            self._adopting.discard(slot)
