"""Live evaluation: the consumer group "ops-rules" on the durable stream, each committed
reading evaluated once, in order; and the scheduler of stale rules and reminders.

A batch's rule states and alert changes are one transaction, which also records the
stream position of the last change it evaluated (`ops_rule_progress`); the group's
position is committed after it. The stream delivers at least once: a change read but not
committed (a reader that died or lost the group) comes again to the group's next reader,
which skips the changes at or before the recorded position. A reader that lost the group
(or a race on a state) rolls back on that record's compare-and-set and reads again. So
each reading is evaluated once: not by Observation id, which two writers' overlapping
transactions commit out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.background import stop_tasks
from cityhelix.events.bus import EntityEvent
from cityhelix.events.database import DatabaseStream, process_name
from cityhelix.events.stream import READING, Change, EventStream, GroupTaken, position_order
from cityhelix.hub import service as hub
from cityhelix.ops.alerting import store
from cityhelix.ops.alerting.evaluate import Reading, evaluate, evaluate_composite
from cityhelix.ops.alerting.rules import Rule
from cityhelix.ops.alerting.scope import HubView, Place
from cityhelix.ops.alerting.tables import ops_alerts, ops_leases
from cityhelix.settings import Settings

log = logging.getLogger(__name__)

GROUP = "ops-rules"
STALE_LEASE = "ops-stale-check"
#: events looked at between two turns of the event loop (a few ms of work)
_EVENTS_PER_TURN = 2_000


def wake_readers(stream: EventStream | None) -> None:
    """Wake this process's stream readers (SSE, other groups) at once after an ops commit:
    ops events are not published on the hub's in-process bus, and SQLite has no NOTIFY."""
    if isinstance(stream, DatabaseStream):
        stream.wake()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def reading_of(event: EntityEvent) -> tuple[int, int | None, Reading] | None:
    """(Datastream, Thing, reading) of a numeric reading's create event, else None."""
    payload = event.payload
    datastream_id, result = payload.get("datastream_id"), payload.get("result")
    if not isinstance(datastream_id, int) or isinstance(result, bool):
        return None
    if not isinstance(result, int | float) or not math.isfinite(result):
        return None
    phenomenon = payload.get("phenomenonTime")
    if not isinstance(phenomenon, str):
        return None
    thing_id = payload.get("thing_id")
    time = parse_time(phenomenon.split("/")[0])
    return (
        datastream_id,
        thing_id if isinstance(thing_id, int) else None,
        Reading(event.id, time, float(result)),
    )


@dataclass(frozen=True)
class Match:
    """A reading (or a stale check) and the rules it meets, in the order of their ids."""

    rules: Sequence[Rule]
    datastream_id: int
    thing_id: int | None
    reading: Reading


class RuleEvaluation:
    """Evaluates readings against the rules and writes states, alerts and their events."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        view: HubView,
        stream: EventStream | None = None,
    ) -> None:
        self.stream = stream
        self.engine = engine
        self.settings = settings
        self.view = view
        self._rules: list[Rule] | None = None
        #: reading rules by listed Datastream (in id order), and those whose scope is
        #: resolved per reading
        self._listed: dict[int, list[Rule]] = {}
        self._resolved: list[Rule] = []
        #: the position recorded as applied (`_applied_read`: read since the last restart)
        self._applied: str | None = None
        self._applied_read = False

    def forget_rules(self) -> None:
        """Read the rules and the group's applied position again before the next changes:
        after a failed batch or a lost group, another reader may have moved both on."""
        self._rules = None
        self._applied_read = False

    async def _applied_order(self) -> tuple[int, int, int] | None:
        """The order of the position recorded as applied, read once per (re)start."""
        if not self._applied_read:
            async with self.engine.connect() as connection:
                self._applied = await store.applied_position(connection, GROUP)
            self._applied_read = True
        return None if self._applied is None else position_order(self._applied)

    async def rules(self) -> list[Rule]:
        if self._rules is None:
            async with self.engine.connect() as connection:
                self._index(await store.load_rules(connection))
        assert self._rules is not None
        return self._rules

    async def rule_changed(self, rule_id: int) -> None:
        """Take in the stored rule `rule_id` as it is now (made, changed or deleted): read
        again alone, not with the 10,000 others (whose parsing would hold evaluation)."""
        if self._rules is None:
            return  # read in full at the next reading
        async with self.engine.connect() as connection:
            row = await store.rule_row(connection, rule_id)
        rules = [rule for rule in self._rules if rule.id != rule_id]
        if row is not None:
            rules.append(store.rule_of(row))
            rules.sort(key=lambda rule: rule.id)
        self._index(rules)

    def _index(self, rules: list[Rule]) -> None:
        """`rules` (by id), indexed by listed Datastream; those of other scopes apart."""
        self._rules, self._listed, self._resolved = rules, {}, []
        for rule in rules:
            # stale rules meet readings too: a reading ends a silence at once
            if not rule.enabled or rule.kind == "composite":
                continue
            if rule.scope.datastream_ids:
                for datastream_id in rule.scope.datastream_ids:
                    self._listed.setdefault(datastream_id, []).append(rule)
            else:
                self._resolved.append(rule)

    async def handle(self, changes: Sequence[Change]) -> None:
        """Evaluate the readings of `changes`; rule changes take effect where they were made.

        A change at or before the recorded position was evaluated already (delivered again
        after a reader died or lost the group): its readings are skipped, its rule events
        too (the rules were read afresh since), and the hub entities it changed forgotten."""
        pending: list[tuple[int, int | None, Reading]] = []
        #: the position of the change of the last pending reading
        through: str | None = None
        await self.rules()  # the index tells which readings can meet a rule at all
        applied = await self._applied_order()
        seen = 0
        for change in changes:
            if applied is not None and position_order(change.position) <= applied:
                for topic, events in change.events.by_topic.items():
                    if topic != READING:
                        for event in events:
                            self.view.forget(event)
                continue
            if (
                not self._resolved
                and change.events.by_topic.keys() == {READING}
                and self._listed.keys().isdisjoint(change.events.readings_by_datastream)
            ):
                continue  # only readings, none of them on a Datastream a rule lists
            for event in change.events:
                seen += 1
                if not seen % _EVENTS_PER_TURN:
                    await asyncio.sleep(0)  # a large write's events: let requests through
                if event.pillar == "ops" and event.entity_type == "Rule":
                    await self.evaluate_readings(pending, through)
                    pending = []
                    await self.rule_changed(event.id)
                    continue
                self.view.forget(event)
                if (
                    event.action == "create"
                    and event.entity_type == "Observation"
                    and event.pillar == "hub"
                    # a bulk write's readings on Datastreams no rule watches cost nothing more
                    and (self._resolved or event.payload.get("datastream_id") in self._listed)
                ):
                    found = reading_of(event)
                    if found is not None:
                        pending.append(found)
                        through = change.position
        await self.evaluate_readings(pending, through)

    async def evaluate_readings(
        self, readings: Sequence[tuple[int, int | None, Reading]], position: str | None = None
    ) -> None:
        """Evaluate `readings` in one transaction, recorded as applied through the change at
        `position` (a stream position; None: readings from no stream)."""
        if not readings:
            return
        await self.rules()  # builds the index by listed Datastream
        if not self._listed and not self._resolved:
            return
        matches: list[Match] = []
        for index, (datastream_id, thing_id, reading) in enumerate(readings):
            if index and not index % _EVENTS_PER_TURN:
                await asyncio.sleep(0)
            # a reading meets only its own Datastream's listed rules (10,000 rules cost a
            # dictionary look-up, not 10,000 scope checks) and the rules with resolved scopes
            listed = self._listed.get(datastream_id, [])
            if self._resolved:
                covered = [
                    r for r in self._resolved if await self.view.covers(r, datastream_id, thing_id)
                ]
                if covered:
                    # in the order of the rules' ids, as the full list gave them
                    listed = sorted([*listed, *covered], key=lambda r: r.id)
                await asyncio.sleep(0)  # scope checks: a long batch yields to requests
            if listed:
                matches.append(Match(listed, datastream_id, thing_id, reading))
        await self.apply(matches, position)

    async def apply(
        self, matches: Sequence[Match], position: str | None = None, *, once_per_id: bool = False
    ) -> list[EntityEvent]:
        """One transaction: each match evaluated in order, states, alerts, events written,
        and `position` (the stream position of the last change evaluated, if from the
        stream) recorded as the group's applied position. `once_per_id`: see `evaluate`.

        States are read once per batch; a rule that a reading leaves as it was (most of
        them, most of the time) costs the evaluator's call and nothing else."""
        if not matches:
            return []
        places = {thing: await self.view.place(thing) for thing in {m.thing_id for m in matches}}
        rules = await self.rules()
        now = datetime.now(UTC)
        reraise = self.settings.ops_alert_min_reraise_seconds
        async with self.engine.begin() as connection:
            # the rows there are: a (rule, Datastream) without one starts from a new state
            states = await store.states_on(connection, {m.datastream_id for m in matches})
            dirty: set[tuple[int, int]] = set()
            events: list[EntityEvent] = []
            composites = any(r.kind == "composite" and r.enabled for r in rules)
            evaluated = 0
            for match in matches:
                evaluated += len(match.rules)
                if evaluated >= 5000:
                    evaluated = 0
                    await asyncio.sleep(0)  # thousands of evaluations: let requests through
                datastream_id, reading = match.datastream_id, match.reading
                for rule in match.rules:
                    key = (rule.id, datastream_id)
                    keyed = states.get(key)
                    before = store.NEW_STATE if keyed is None else keyed.state
                    after, transitions = evaluate(
                        rule, before, reading, min_reraise_seconds=reraise, once_per_id=once_per_id
                    )
                    if not transitions and (after is before or after == before):
                        continue  # nothing to remember, nothing to write
                    if keyed is None:
                        keyed = states[key] = store.Keyed(store.NEW_STATE, None, None)
                    keyed.state = after
                    dirty.add(key)
                    for transition in transitions:
                        event = await store.apply_transition(
                            connection,
                            rule,
                            datastream_id,
                            match.thing_id,
                            places[match.thing_id],
                            keyed,
                            transition,
                            now,
                        )
                        if event is not None:
                            events.append(event)
                    moments = [t.time for t in transitions if t.kind in ("raise", "clear")]
                    if moments and composites:
                        # composites follow each raise and clear in stream order, as a
                        # preview replays them (not only a batch's last word): on the state
                        # as it is now
                        await store.save_state(connection, key, keyed)
                        dirty.discard(key)
                        events.extend(
                            await self._composites(
                                connection, rules, {rule.id: max(moments)}, now, reraise
                            )
                        )
            for key in sorted(dirty):
                await store.save_state(connection, key, states[key])
            if position is not None:
                await store.record_position(connection, GROUP, self._applied, position, now)
            await store.append_events(connection, events)
        if position is not None:
            self._applied = position
        if events:
            wake_readers(self.stream)
        return events

    async def _composites(
        self,
        connection: Any,
        rules: Sequence[Rule],
        changed: dict[int, datetime],
        now: datetime,
        reraise: float,
    ) -> list[EntityEvent]:
        """Composites over the rules that raised or cleared, then over those composites."""
        composites = [r for r in rules if r.kind == "composite" and r.enabled]
        events: list[EntityEvent] = []
        seen: set[int] = set()
        while changed:
            time = max(changed.values())
            touched = [c for c in composites if set(c.rule_ids) & set(changed) and c.id not in seen]
            changed = {}
            for rule in touched:
                seen.add(rule.id)
                firing = await store.firing_rules(connection, rule.rule_ids)
                key = (rule.id, store.COMPOSITE_KEY)
                keyed = (await store.load_states(connection, [key]))[key]
                after, transitions = evaluate_composite(
                    rule, keyed.state, firing, time, min_reraise_seconds=reraise
                )
                if after == keyed.state:
                    continue
                keyed.state = after
                for transition in transitions:
                    event = await store.apply_transition(
                        connection, rule, None, None, Place(None, None), keyed, transition, now
                    )
                    if event is not None:
                        events.append(event)
                    changed[rule.id] = transition.time
                await store.save_state(connection, key, keyed)
        return events

    async def check_stale(self, now: datetime) -> list[EntityEvent]:
        """Stale rules at `now`: the age of each Datastream's latest reading, in minutes."""
        matches: list[Match] = []
        for rule in await self.rules():
            if rule.kind != "stale" or not rule.enabled:
                continue
            datastream_ids = await self.view.datastreams_of(rule)
            latest = await hub.latest_readings(self.engine, datastream_ids)
            for datastream_id, reading in sorted(latest.items()):
                facts = await self.view.datastream(datastream_id)
                age = (now - reading.phenomenon_time).total_seconds() / 60
                matches.append(
                    Match(
                        (rule,),
                        datastream_id,
                        facts.thing_id if facts else None,
                        Reading(0, now, age),
                    )
                )
        return await self.apply(matches)

    async def remind(self, now: datetime) -> list[EntityEvent]:
        """A reminder event for each active critical alert unacknowledged too long."""
        due = now - timedelta(seconds=self.settings.ops_alert_reminder_seconds)
        rules = {rule.id: rule for rule in await self.rules()}
        events: list[EntityEvent] = []
        async with self.engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(ops_alerts)
                    .where(
                        ops_alerts.c.state == "active",
                        ops_alerts.c.severity == "critical",
                        # raised (wall clock) that long ago: readings may carry old times
                        ops_alerts.c.created_at <= due,
                        or_(ops_alerts.c.reminded_at.is_(None), ops_alerts.c.reminded_at <= due),
                    )
                    .limit(1000)
                )
            ).all()
            for row in rows:
                await connection.execute(
                    update(ops_alerts).where(ops_alerts.c.id == row.id).values(reminded_at=now)
                )
                await store.add_step(connection, row.id, "reminded", now)
                if row.rule_id in rules:
                    events.append(
                        store.alert_event("update", row, rules[row.rule_id], change="reminder")
                    )
            await store.append_events(connection, events)
        if events:
            wake_readers(self.stream)
        return events


async def take_lease(engine: AsyncEngine, name: str, owner: str, seconds: float) -> bool:
    """Whether `owner` holds the lease `name` for the next `seconds` (compare-and-set)."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                update(ops_leases)
                .where(
                    ops_leases.c.name == name,
                    or_(
                        ops_leases.c.owner == owner,
                        ops_leases.c.owner.is_(None),
                        ops_leases.c.until < now,
                    ),
                )
                .values(owner=owner, until=until)
            )
            if result.rowcount == 1:
                return True
            exists = await connection.scalar(
                select(ops_leases.c.name).where(ops_leases.c.name == name)
            )
            if exists is None:
                await connection.execute(
                    insert(ops_leases).values(name=name, owner=owner, until=until)
                )
                return True
    except IntegrityError:
        return False
    return False


async def consume_forever(stream: EventStream, evaluation: RuleEvaluation) -> None:
    """Read, evaluate, commit; on a lost group or a lost race, reopen and read again."""
    while True:
        try:
            async with stream.consumer(GROUP, start="latest") as consumer:
                while True:
                    changes = await consumer.read(limit=100, timeout=None)
                    await evaluation.handle(changes)
                    await consumer.commit()
        except (GroupTaken, store.StateRace, IntegrityError) as error:
            log.info("ops rules: reading again after %s", error)
            evaluation.forget_rules()
        except (DBAPIError, OSError) as error:
            log.warning("ops rules: evaluation failed (%s); retrying", error)
            evaluation.forget_rules()
            await asyncio.sleep(1.0)  # a database that went away: do not spin
        except Exception:
            # a bug must not stop evaluation for the life of the process unnoticed: log it
            # with its traceback and read the same changes again (nothing was committed)
            log.exception("ops rules: evaluation failed; reading again in 5 s")
            evaluation.forget_rules()
            await asyncio.sleep(5.0)


async def check_forever(engine: AsyncEngine, settings: Settings, stream: EventStream) -> None:
    """Stale rules and reminders, by one process at a time (a lease in ops_leases)."""
    owner = process_name()
    interval = settings.ops_stale_check_seconds
    while True:
        try:
            if await take_lease(engine, STALE_LEASE, owner, max(interval * 3, 5.0)):
                # fresh caches each round: this loop does not see the hub's events
                evaluation = RuleEvaluation(engine, settings, HubView(engine), stream)
                now = datetime.now(UTC)
                await evaluation.check_stale(now)
                await evaluation.remind(now)
        except (DBAPIError, OSError, store.StateRace) as error:
            log.warning("ops stale check failed (%s); retrying", error)
        except Exception:
            log.exception("ops stale check failed; trying again next round")
        await asyncio.sleep(interval)  # a schedule, not a wait for an event


@contextlib.asynccontextmanager
async def running(app: Any, settings: Settings) -> AsyncIterator[None]:
    """The consumer and the scheduler for the life of the app (when `ops_rules_live`)."""
    engine: AsyncEngine = app.state.engine
    view = HubView(engine)
    app.state.ops_hub_view = view
    # live event streams (SSE) end when this is set, so the server can stop
    app.state.ops_stopping = stopping = asyncio.Event()
    if not settings.ops_rules_live:
        try:
            yield
        finally:
            stopping.set()
        return
    stream: EventStream = app.state.stream
    consumer = asyncio.create_task(
        consume_forever(stream, RuleEvaluation(engine, settings, view, stream))
    )
    checker = asyncio.create_task(check_forever(engine, settings, stream))
    try:
        yield
    finally:
        stopping.set()
        await stop_tasks((consumer, checker))
