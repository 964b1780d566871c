"""The ingest's promises through real processes: `cityhelix serve`, Mosquitto, PostgreSQL.

An acknowledged reading (HTTP 201, or the broker's PUBACK to a device while the hub holds a
persistent session) survives a kill -9 of the hub; two hubs on one broker share the ingest
with an MQTT 5 shared subscription and store each reading once. Mosquitto runs with the
shipped config (deploy/mosquitto.conf) on a free port; these tests never skip.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from tests.hub.factories import full_thing
from tests.hub.processes import Hub, fresh_postgres, mosquitto, running_hub, start_hub, wait_until
from tests.served import cli_env

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "processes-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: small batches, so that a kill finds some committed and some in flight
BATCHING = {"CITYHELIX_INGEST_BATCH_SIZE": "100", "CITYHELIX_INGEST_BATCH_MS": "20"}
#: the hub asks the broker for at most 2 x batch size unacknowledged requests (bridge.py)
RECEIVE_WINDOW = 2 * int(BATCHING["CITYHELIX_INGEST_BATCH_SIZE"])
WAIT = 45.0
#: how often a condition that asks a hub over HTTP is polled
POLL = 0.5


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    with mosquitto(tmp_path) as port:
        yield port


def hub_env(**extra: str) -> dict[str, str]:
    return {"CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN, **BATCHING, **extra}


def make_datastream(hub: Hub, headers: dict[str, str] = ADMIN) -> int:
    """A Thing with a Location and one Datastream, over HTTP; the Datastream's id."""
    made = httpx.post(
        f"{hub.url}/v1.1/Things", json=full_thing(observations=0), headers=headers, timeout=30
    )
    assert made.status_code == 201, made.text
    streams = httpx.get(f"{made.headers['Location']}/Datastreams", timeout=30)
    stream_id: int = streams.json()["value"][0]["@iot.id"]
    return stream_id


def observations_path(stream_id: int) -> str:
    return f"v1.1/Datastreams({stream_id})/Observations"


def stored_count(hub: Hub, stream_id: int) -> int:
    response = httpx.get(
        f"{hub.url}/{observations_path(stream_id)}",
        params={"$count": "true", "$top": "1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    count: int = response.json()["@iot.count"]
    return count


def stored(hub: Hub, stream_id: int) -> list[tuple[int, Any]]:
    """(id, result) of every Observation of the Datastream, following nextLinks."""
    found: list[tuple[int, Any]] = []
    url: str | None = f"{hub.url}/{observations_path(stream_id)}?$top=10000"
    while url is not None:
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend((o["@iot.id"], o["result"]) for o in page["value"])
        url = page.get("@iot.nextLink")
    return found


def ingest_status(hub: Hub) -> dict[str, Any]:
    response = httpx.get(f"{hub.url}/api/hub/ingest", headers=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


# ---------------------------------------------------------------- kill -9 over HTTP


@dataclass
class HttpStream:
    """Threads POSTing distinct readings until told to stop or the server is gone."""

    url: str
    acknowledged: dict[int, int] = field(default_factory=dict)  # result -> Location's id
    other_answers: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post_from(self, first: int) -> None:
        with httpx.Client(headers=ADMIN, timeout=30) as client:
            result = first
            while not self.stop.is_set():
                try:
                    response = client.post(self.url, json={"result": result})
                except httpx.TransportError:
                    return  # killed: this reading has no answer, and counts for nothing
                with self.lock:
                    if response.status_code == 201:
                        location = response.headers["Location"]
                        self.acknowledged[result] = int(location.rsplit("(", 1)[1].rstrip(")"))
                    else:
                        self.other_answers.append(response.status_code)
                result += 1

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def test_every_reading_answered_201_survives_a_kill_9_of_the_server(
    database: str, tmp_path: Path
) -> None:
    log = tmp_path / "hub.log"
    hub = start_hub(database, log, **hub_env())
    try:
        stream_id = make_datastream(hub)
        stream = HttpStream(f"{hub.url}/{observations_path(stream_id)}")
        posters = [
            threading.Thread(target=stream.post_from, args=(n * 1_000_000,)) for n in range(6)
        ]
        for poster in posters:
            poster.start()
        try:
            wait_until(lambda: stream.count() >= 300, WAIT, "300 readings answered 201")
            hub.kill()  # while six clients are still posting
        finally:
            stream.stop.set()
            for poster in posters:
                poster.join(timeout=60)
    finally:
        hub.stop()
    assert stream.other_answers == []
    with running_hub(database, log, **hub_env()) as restarted:
        rows = stored(restarted, stream_id)
    by_id = dict(rows)
    lost = {r: i for r, i in stream.acknowledged.items() if by_id.get(i) != r}
    assert lost == {}, f"{len(lost)} of {len(stream.acknowledged)} readings answered 201 are gone"
    # a POST without an answer may or may not have been written, but never twice
    results = [result for _, result in rows]
    assert len(results) == len(set(results))


# ---------------------------------------------------------------- MQTT publishers


@dataclass
class Publisher:
    """A device on the broker: publishes readings at QoS 1 (MQTT 5), notes each PUBACK."""

    port: int
    username: str | None = None
    password: str | None = None
    client: paho.Client = field(init=False)
    sent: dict[int, float] = field(default_factory=dict)  # message id -> result
    acknowledged_ids: set[int] = field(default_factory=set)
    refused_ids: set[int] = field(default_factory=set)  # PUBACKs with a failure reason
    lock: threading.Lock = field(default_factory=threading.Lock)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv5
        )
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        self.client.on_publish = self._on_publish
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        # a device publishes once connected (a refused CONNECT shows here, not later)
        assert self.connected.wait(WAIT), "no CONNACK from the broker"

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        # ids only: the PUBACK may come before publish() returned the id; and never wait
        # on a lock held across client.publish here (paho's thread would deadlock)
        with self.lock:
            (self.refused_ids if reason.is_failure else self.acknowledged_ids).add(mid)

    def publish(self, topic: str, result: float) -> int:
        """Publish a reading at QoS 1; its message id."""
        info = self.client.publish(topic, orjson.dumps({"result": result}), qos=1)
        # NO_CONN: the broker dropped the connection a moment ago (Mosquitto 2.0.11 does
        # after refusing a publication); paho keeps a QoS 1 message and sends it on
        # reconnecting, as the PUBACK counts below wait for
        assert info.rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN), info.rc
        with self.lock:
            self.sent[info.mid] = result
        return info.mid

    def count(self) -> int:
        """Publications the broker answered, whatever it said."""
        with self.lock:
            return len(self.acknowledged_ids) + len(self.refused_ids)

    def acknowledged(self) -> set[float]:
        """The results whose publication the broker acknowledged."""
        with self.lock:
            return {self.sent[mid] for mid in self.acknowledged_ids}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(publisher: Publisher, topic: str, results: list[float]) -> threading.Thread:
    """Publish every result from a thread of its own, as a device streaming readings."""

    def run() -> None:
        for result in results:
            publisher.publish(topic, result)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_every_reading_the_broker_acknowledged_survives_a_kill_9_of_the_hub(
    database: str, broker: int, tmp_path: Path
) -> None:
    """Killed while it writes a stream; more readings arrive while it is dead; restarted.

    With the defaults only (the database and the broker's URL): the hub's process holds a
    persistent session under a slot leased in the database (slot 0). The broker acknowledges
    a device's publication on receipt; the session keeps what the hub has not acknowledged
    (it acknowledges after commit) and what arrived while it was away. The restarted hub
    finds slot 0 still leased by the dead one, takes slot 1, and adopts slot 0 once its lease
    runs out: it drains that session and ends it.
    """
    log = tmp_path / "hub.log"
    env = hub_env(CITYHELIX_MQTT_URL=f"mqtt://127.0.0.1:{broker}")
    count, while_dead = 3000, 500
    results = [float(n) for n in range(count)]
    hub = start_hub(database, log, **env)
    publisher = Publisher(broker)
    try:
        session = ingest_status(hub)["mqtt"]["session"]
        assert (session["kind"], session["slot"]) == ("persistent", 0)
        stream_id = make_datastream(hub)
        topic = observations_path(stream_id)
        streaming = publish_all(publisher, topic, results[:-while_dead])
        wait_until(lambda: stored_count(hub, stream_id) >= 300, WAIT, "300 stored", every=POLL)
        hub.kill()
        streaming.join(timeout=WAIT)
        publish_all(publisher, topic, results[-while_dead:]).join(timeout=WAIT)
        wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
    finally:
        hub.stop()
        publisher.close()
    with running_hub(database, log, **env) as restarted:
        wait_until(lambda: stored_count(restarted, stream_id) >= count, WAIT, "all", every=POLL)

        def adopted() -> int:
            sessions: int = ingest_status(restarted)["mqtt"]["session"]["adopted_sessions"]
            return sessions

        wait_until(lambda: adopted() == 1, WAIT, "the dead hub's session ended", every=POLL)
        rows = stored(restarted, stream_id)
        status = ingest_status(restarted)
    stored_results = [result for _, result in rows]
    assert publisher.acknowledged() == set(results)
    assert set(stored_results) == set(results)
    assert status["readings"] >= while_dead
    assert status["mqtt"]["session"]["slot"] == 1
    # At least once, not exactly once: a batch committed just before the kill, whose PUBACKs
    # to the broker never left, is sent again and written again. Only those can repeat, and
    # the broker never has more than the hub's receive window unacknowledged.
    assert len(stored_results) - count <= RECEIVE_WINDOW


def test_a_hub_that_never_comes_back_leaves_no_reading_stranded_in_its_session(
    database: str, broker: int, tmp_path: Path
) -> None:
    """Two hubs share the ingest; one is killed mid-stream and never restarted.

    The broker keeps giving the dead process's session its share of the group; once that
    slot's lease runs out the survivor adopts it: writes what it holds and ends it.
    """
    env = hub_env(CITYHELIX_MQTT_URL=f"mqtt://127.0.0.1:{broker}")
    count = 3000
    results = [float(n) for n in range(count)]
    with ThreadPoolExecutor(2) as starting:
        starts = [
            starting.submit(start_hub, database, tmp_path / f"hub-{n}.log", **env) for n in (1, 2)
        ]
    try:
        survivor, doomed = (start.result() for start in starts)
        stream_id = make_datastream(survivor)
        publisher = Publisher(broker)
        try:
            streaming = publish_all(publisher, observations_path(stream_id), results)
            wait_until(lambda: stored_count(survivor, stream_id) >= 300, WAIT, "300", every=POLL)
            doomed.kill()
            streaming.join(timeout=WAIT)
            wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
        finally:
            publisher.close()
        wait_until(lambda: stored_count(survivor, stream_id) >= count, WAIT, "all", every=POLL)

        def adopted() -> int:
            sessions: int = ingest_status(survivor)["mqtt"]["session"]["adopted_sessions"]
            return sessions

        wait_until(lambda: adopted() == 1, WAIT, "the dead hub's session ended", every=POLL)
        rows = stored(survivor, stream_id)
    finally:
        for start in starts:
            if start.exception() is None:
                start.result().stop()
    stored_results = [result for _, result in rows]
    assert publisher.acknowledged() == set(results)
    assert set(stored_results) == set(results)
    assert len(stored_results) - count <= RECEIVE_WINDOW  # only the dead one's in flight


def test_readings_published_while_no_hub_runs_are_written_when_it_comes_back(
    database: str, broker: int, tmp_path: Path
) -> None:
    """A clean stop frees the process's slot: the next process takes it and its session."""
    log = tmp_path / "hub.log"
    env = hub_env(CITYHELIX_MQTT_URL=f"mqtt://127.0.0.1:{broker}")
    count = 1000
    with running_hub(database, log, **env) as first:
        stream_id = make_datastream(first)
        client_id = ingest_status(first)["mqtt"]["client_id"]
    publisher = Publisher(broker)
    try:
        publish_all(publisher, observations_path(stream_id), [float(n) for n in range(count)])
        wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
    finally:
        publisher.close()
    with running_hub(database, log, **env) as second:
        wait_until(lambda: stored_count(second, stream_id) >= count, WAIT, "all", every=POLL)
        status = ingest_status(second)
        rows = stored(second, stream_id)
    assert sorted(result for _, result in rows) == [float(n) for n in range(count)]
    assert status["mqtt"]["client_id"] == client_id  # the same session, taken over
    assert status["mqtt"]["session"] == {
        "kind": "persistent",
        "slot": 0,
        "expiry": 86_400,
        "adopted_sessions": 0,
    }


def test_a_second_deployment_on_the_broker_takes_nothing_of_the_first(
    database: str, broker: int, tmp_path: Path
) -> None:
    """Two installations (two databases) on one broker, each with the defaults.

    Before, both joined the group `cityhelix` and the broker gave the staging hub half of
    production's readings, which it refused (no such Datastream here) and acknowledged. Now
    each deployment has a group of its own, and each reports the other.
    """
    url = f"mqtt://127.0.0.1:{broker}"
    count = 1000
    with fresh_postgres() as staging_database, ThreadPoolExecutor(2) as starting:
        starts = [
            starting.submit(
                start_hub, db, tmp_path / f"{name}.log", **hub_env(CITYHELIX_MQTT_URL=url)
            )
            for name, db in (("production", database), ("staging", staging_database))
        ]
        try:
            production, staging = (start.result() for start in starts)
            stream_id = make_datastream(production)
            publisher = Publisher(broker)
            try:
                publish_all(
                    publisher, observations_path(stream_id), [float(n) for n in range(count)]
                )
                wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
            finally:
                publisher.close()
            wait_until(
                lambda: stored_count(production, stream_id) >= count, WAIT, "all", every=POLL
            )
            # staging gets its own copy of every message (its group of its own): it refuses
            # them, as its database has no such Datastream, and keeps them as dead letters
            wait_until(
                lambda: ingest_status(staging)["mqtt"]["refused"] >= count,
                WAIT,
                "staging to refuse its copies",
                every=POLL,
            )
            rows = stored(production, stream_id)
            statuses = {"production": ingest_status(production), "staging": ingest_status(staging)}
        finally:
            for start in starts:
                if start.exception() is None:
                    start.result().stop()
    assert sorted(result for _, result in rows) == [float(n) for n in range(count)]
    ours, theirs = statuses["production"]["mqtt"], statuses["staging"]["mqtt"]
    assert ours["accepted"] == count and ours["refused"] == 0
    assert ours["deployment"] != theirs["deployment"]
    assert ours["share_group"] == f"cityhelix-{ours['deployment'][:8]}"
    assert ours["share_group"] != theirs["share_group"]
    assert [d["deployment"] for d in ours["other_deployments"]] == [theirs["deployment"]]
    assert [d["deployment"] for d in theirs["other_deployments"]] == [ours["deployment"]]
    assert not any(d["same_group"] for d in ours["other_deployments"])


def test_a_refused_reading_is_counted_and_kept_as_a_dead_letter(
    database: str, broker: int, tmp_path: Path
) -> None:
    url = f"mqtt://127.0.0.1:{broker}"
    with running_hub(database, tmp_path / "hub.log", **hub_env(CITYHELIX_MQTT_URL=url)) as hub:
        stream_id = make_datastream(hub)
        publisher = Publisher(broker)
        try:
            publisher.publish(observations_path(999_999), 1.0)  # no such Datastream
            info = publisher.client.publish(observations_path(stream_id), b"{not json", qos=1)
            info.wait_for_publish(WAIT)
            publisher.publish(observations_path(stream_id), 2.0)
            wait_until(lambda: publisher.count() == 2, WAIT, "the broker's PUBACKs")
        finally:
            publisher.close()
        wait_until(lambda: stored_count(hub, stream_id) == 1, WAIT, "the good one", every=POLL)

        def dead_letters() -> dict[str, Any]:
            response = httpx.get(f"{hub.url}/api/hub/ingest/dead-letters", headers=ADMIN)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        wait_until(lambda: dead_letters()["kept"] == 2, WAIT, "two dead letters", every=POLL)
        letters = dead_letters()
        mqtt = ingest_status(hub)["mqtt"]
        anonymous = httpx.get(f"{hub.url}/api/hub/ingest/dead-letters")
    assert (mqtt["accepted"], mqtt["refused"], mqtt["failed"]) == (1, 2, 0)
    assert mqtt["dead_letters"] == {"kept": 2, "lost": 0, "cap": 1000}
    # written concurrently: the bad body may be refused before the unknown stream
    unknown, bad = sorted(letters["value"], key=lambda letter: letter["status"], reverse=True)
    assert (unknown["topic"], unknown["status"]) == (observations_path(999_999), 404)
    assert orjson.loads(unknown["payload"]) == {"result": 1.0}
    assert "999999" in unknown["reason"]
    assert (bad["topic"], bad["status"], bad["payload"]) == (
        observations_path(stream_id),
        400,
        "{not json",
    )
    assert bad["publisher"] == "mqtt-ingest" and bad["reason"]
    assert not bad["payload_truncated"] and bad["payload_bytes"] == len(b"{not json")
    assert anonymous.status_code == 401


def test_two_hubs_share_the_mqtt_ingest_and_store_each_reading_once(
    database: str, broker: int, tmp_path: Path
) -> None:
    url = f"mqtt://127.0.0.1:{broker}"
    count = 2000
    results = [float(n) for n in range(count)]
    with ThreadPoolExecutor(2) as starting:  # a start takes seconds: both at once
        starts = [
            starting.submit(
                start_hub,
                database,
                tmp_path / f"hub-{n}.log",
                **hub_env(CITYHELIX_MQTT_URL=url),
            )
            for n in (1, 2)
        ]
    try:
        hubs = [start.result() for start in starts]
        stream_id = make_datastream(hubs[0])
        publisher = Publisher(broker)
        try:
            publish_all(publisher, observations_path(stream_id), results).join(timeout=WAIT)
            wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
        finally:
            publisher.close()

        def accepted() -> int:
            return sum(ingest_status(hub)["mqtt"]["accepted"] for hub in hubs)

        wait_until(lambda: accepted() >= count, WAIT, "every creation accepted", every=POLL)
        statuses = [ingest_status(hub) for hub in hubs]
        rows = stored(hubs[0], stream_id)
    finally:
        for start in starts:  # the one that started, when the other did not
            if start.exception() is None:
                start.result().stop()
    stored_results = [result for _, result in rows]
    assert len(stored_results) == count
    assert set(stored_results) == set(results)
    assert [s["mqtt"]["accepted"] for s in statuses] == [s["readings"] for s in statuses]
    assert all(s["readings"] > 0 for s in statuses), statuses
    assert sum(s["readings"] for s in statuses) == count
    assert all(s["mqtt"]["refused"] == s["mqtt"]["failed"] == 0 for s in statuses)
    # each process leased a slot of its own: two persistent sessions, never one id twice
    assert sorted(s["mqtt"]["session"]["slot"] for s in statuses) == [0, 1]


# ---------------------------------------------------------------- tenants on the broker


def run_cityhelix(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cityhelix ARGS` in its own process against `database`."""
    return subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(database, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def cityhelix(database: str, *args: str) -> str:
    """The standard output of `cityhelix ARGS`, which must succeed."""
    done = run_cityhelix(database, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_tenant_cannot_publish_to_another_tenants_datastream_through_mosquitto(
    database: str, tmp_path: Path
) -> None:
    tokens = {
        name: cityhelix(database, "users", "create", name, "--role", "tenant").split()[-1]
        for name in ("tenant-a", "tenant-b")
    }
    with running_hub(database, tmp_path / "setup.log", **hub_env()) as setup:
        streams = {
            name: make_datastream(setup, {"Authorization": f"Bearer {token}"})
            for name, token in tokens.items()
        }
    acl = tmp_path / "cityhelix.acl"
    cityhelix(database, "users", "mosquitto-acl", str(acl), "--hub-user", "cityhelix")
    assert f"topic write {observations_path(streams['tenant-a'])}" in acl.read_text()
    assert "topic readwrite cityhelix/deployments/#" in acl.read_text()
    passwords = tmp_path / "passwd"
    for name, secret in [("cityhelix", "hub-secret"), *tokens.items()]:
        create = ["-c"] if name == "cityhelix" else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(passwords), name, secret], check=True
        )
    with (
        mosquitto(tmp_path, users=passwords, acl=acl) as port,
        running_hub(
            database,
            tmp_path / "hub.log",
            **hub_env(CITYHELIX_MQTT_URL=f"mqtt://cityhelix:hub-secret@127.0.0.1:{port}"),
        ) as hub,
    ):
        device = Publisher(port, "tenant-a", tokens["tenant-a"])
        try:
            own = observations_path(streams["tenant-a"])
            device.publish(own, 1.0)
            foreign = device.publish(observations_path(streams["tenant-b"]), 2.0)
            device.publish(own, 3.0)
            wait_until(lambda: device.count() == 3, WAIT, "the broker's answers")
        finally:
            device.close()
        wait_until(lambda: stored_count(hub, streams["tenant-a"]) == 2, WAIT, "own", every=POLL)
        mqtt = ingest_status(hub)["mqtt"]
        foreign_rows = stored(hub, streams["tenant-b"])
    # Mosquitto answers "not authorized" (MQTT 5); 2.0.11 with `max_queued_messages 0` then
    # drops the device's connection, and paho reconnects and sends the third one again
    assert device.refused_ids == {foreign}
    assert (mqtt["accepted"], mqtt["refused"], mqtt["failed"]) == (2, 0, 0)
    assert foreign_rows == []
    assert "refused the subscription cityhelix/deployments" not in hub.output()


def test_mosquitto_acl_refuses_a_name_mosquitto_would_misread(
    database: str, tmp_path: Path
) -> None:
    acl = tmp_path / "cityhelix.acl"
    done = run_cityhelix(database, "users", "mosquitto-acl", str(acl), "--hub-user", " hub")
    assert done.returncode == 1
    assert "' hub'" in done.stdout
    assert not acl.exists()


def test_the_hub_holds_the_broker_back_when_creations_pile_up(
    database: str, broker: int, tmp_path: Path
) -> None:
    """Mosquitto 2.0 sends past the hub's Receive Maximum once acknowledgements flow; the hub
    stops reading its socket when `queue_bound` creations wait, so the rest wait in the broker.

    Notifications at QoS 0 here: with none of them unacknowledged, paho reads one packet per
    socket read, and the bound holds to the message.
    """
    url = f"mqtt://127.0.0.1:{broker}"
    count = 4000
    env = {
        "CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN,
        "CITYHELIX_INGEST_BATCH_SIZE": "25",
        "CITYHELIX_MQTT_NOTIFY_QOS": "0",
        "CITYHELIX_MQTT_URL": url,
    }
    with running_hub(database, tmp_path / "hub.log", **env) as hub:
        stream_id = make_datastream(hub)
        publisher = Publisher(broker)
        try:
            publish_all(publisher, observations_path(stream_id), [float(n) for n in range(count)])
            wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
        finally:
            publisher.close()
        wait_until(lambda: stored_count(hub, stream_id) >= count, WAIT, "all", every=POLL)
        mqtt = ingest_status(hub)["mqtt"]
        rows = stored(hub, stream_id)
    assert sorted(result for _, result in rows) == [float(n) for n in range(count)]
    assert mqtt["queue_bound"] == 50  # the Receive Maximum: 2 x the batch size
    assert mqtt["read_pauses"] > 0
    assert mqtt["most_waiting"] <= mqtt["queue_bound"] + 1
