"""The one settings object of CityHelix: everything configurable comes from the environment.

Nothing else in the code reads `os.environ`; services receive a `Settings` instance so that
tests can build several apps with different settings in one process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the pillars' names, in mounting order (`pillars.PILLAR_PACKAGES` is the same list)
PILLAR_NAMES = ("hub", "ops", "city", "invest", "helix", "web")


class Settings(BaseSettings):
    """Environment variables prefixed `CITYHELIX_`, e.g. `CITYHELIX_DATABASE_URL`."""

    model_config = SettingsConfigDict(env_prefix="CITYHELIX_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/cityhelix.db"
    #: the pillars this process serves, comma-separated (empty: all); the hub always runs.
    #: "hub" makes a process that only ingests and serves SensorThings, while the pillars'
    #: pages, APIs and stream consumers run in other processes (docs/ingest.md)
    pillars: str = Field(default="", max_length=200)
    admin_token: SecretStr | None = None
    public_read: bool = True
    #: the root URL clients see, used in selfLinks; empty means "from the request"
    public_url: str = ""
    page_size: int = Field(default=100, ge=1, le=100_000)
    max_top: int = Field(default=10_000, ge=1)
    #: the response budget of a SensorThings read: the most entities one answer may hold,
    #: rows fetched across all `$expand` levels and every expanded copy written out
    #: counted; past it the read is refused with 400 before the JSON is written
    max_response_entities: int = Field(default=100_000, ge=100, le=10_000_000)
    #: the time budget of a SensorThings read: its queries are stopped past it (PostgreSQL's
    #: statement_timeout, SQLite's progress handler) and the read answers 400
    max_query_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: the byte budget of a SensorThings answer: a larger encoded answer is refused with 400
    max_response_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: requests with more headers than this, or more header bytes (names and values), get 431
    max_header_count: int = Field(default=100, ge=10, le=10_000)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024**2)
    #: per client (address): anonymous GETs a second, sustained, and in a burst (0: no limit)
    rate_anonymous_reads_per_second: float = Field(default=50.0, ge=0)
    rate_anonymous_reads_burst: int = Field(default=500, ge=1)
    #: per client: requests with refused credentials a minute, sustained, and in a burst;
    #: past them requests with credentials get 429 until the bucket refills (0: no limit)
    rate_auth_failures_per_minute: float = Field(default=30.0, ge=0)
    rate_auth_failures_burst: int = Field(default=30, ge=1)
    database_pool_size: int = Field(default=10, ge=1)
    #: an external broker, e.g. mqtt://127.0.0.1:1883; empty runs the embedded broker
    mqtt_url: str = ""
    #: the embedded broker's port (and whether to run one at all: 0 turns MQTT off)
    mqtt_port: int = Field(default=1883, ge=0, le=65535)
    mqtt_host: str = "127.0.0.1"
    #: a fixed MQTT client identifier for the hub on an external broker, instead of the
    #: slot leased in the database (`<deployment>-<slot>`); one process per identifier
    mqtt_client_id: str = ""
    #: how long an external broker keeps a hub process's session while it is away, in seconds
    mqtt_session_expiry: int = Field(default=86_400, ge=0, le=4_294_967_295)
    #: opt-in: a clean session with a random client id; the broker then keeps nothing for
    #: the hub while it is away (readings it acknowledged to devices meanwhile are lost)
    mqtt_clean_session: bool = False
    #: how long a process's slot (its MQTT session) stays leased without a renewal, in
    #: seconds; a slot whose lease ran out is taken over by the next process or adopted
    mqtt_slot_lease: int = Field(default=15, ge=3, le=3600)
    #: the MQTT 5 shared-subscription group of the hub processes on an external broker: the
    #: broker hands each creation to one of them. Unset: `cityhelix-<deployment id>`, made by
    #: the first migration. Empty: this hub is the only one, and its own notifications are
    #: not sent back to it (half the MQTT traffic)
    mqtt_share_group: str | None = Field(default=None, pattern=r"^[^/+#]*$", max_length=64)
    #: refused MQTT creations kept for inspection (GET /api/hub/ingest/dead-letters)
    mqtt_dead_letters: int = Field(default=1000, ge=0, le=100_000)
    #: the QoS of the hub's notifications: 1 (the broker acknowledges each; a subscriber
    #: asking QoS 1 gets each at least once) or 0 (no acknowledgements: half the packets,
    #: but a notification in flight when a connection drops is lost)
    mqtt_notify_qos: int = Field(default=1, ge=0, le=1)
    #: Observations older than this many days are dropped (whole months on PostgreSQL)
    retention_days: int | None = Field(default=None, ge=1)
    #: the batched ingest: at most this many readings in one transaction...
    ingest_batch_size: int = Field(default=1000, ge=1, le=100_000)
    #: ...gathered for at most this many milliseconds after the first one arrived
    ingest_batch_ms: int = Field(default=50, ge=0, le=60_000)
    #: readings waiting for a batch; past this HTTP answers 503 and MQTT waits
    ingest_queue_size: int = Field(default=10_000, ge=1)

    #: the durable stream of committed changes: "database" (the outbox in the database,
    #: for one database) or "nats" (NATS JetStream, fed from the outbox: many machines)
    stream_backend: Literal["database", "nats"] = "database"
    #: how long committed changes are kept for consumers, in hours (a consumer further
    #: behind than this loses the oldest; each consumer's lag is in /api/hub/stream)
    stream_retention_hours: int = Field(default=168, ge=1, le=24 * 366)
    #: a waiting consumer looks for new changes at least this often, in seconds (wake-ups
    #: by the in-process bus and PostgreSQL NOTIFY usually come first)
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    #: a consumer group that is caught up reads again at most this often, in milliseconds:
    #: commits that come faster (the MQTT ingest's many small ones) are read together, so a
    #: group's read and position store are paid per gap, not per commit; a group that is
    #: behind reads on without pausing, an idle one at once when woken
    stream_read_gap_ms: int = Field(default=100, ge=0, le=10_000)
    #: a consumer group's reader holds it this long without reading before another process
    #: may take over, in seconds (also the JetStream ack wait)
    stream_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    #: the NATS server of the "nats" backend, and the JetStream stream's name
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = Field(default="CITYHELIX_CHANGES", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    #: web console: a Thing with no reading for this many minutes is shown "stale"...
    web_stale_minutes: int = Field(default=30, ge=1, le=10_080)
    #: ...and after this many hours without one (or never), "off"
    web_off_hours: int = Field(default=24, ge=1, le=8_760)
    #: web console: an optional MapLibre style URL drawn under the province's own GeoJSON
    #: (e.g. a tile server's style.json); empty keeps the map fully offline
    web_map_style_url: str = Field(default="", max_length=2000, pattern=r"^(https?://\S+)?$")
    #: the province's land area in km², the denominator of the scorecard's per-km²
    #: indicators (default: Binh Duong, the demo's model, about 2,695 km²)
    province_area_km2: float = Field(default=2694.6, gt=0, le=10_000_000)
    #: the province's IANA time zone: where its days begin (daily VN_AQI, lighting energy per
    #: day, parks' monthly counts and the date a regulation takes effect); default Vietnam's
    province_timezone: str = Field(
        default="Asia/Ho_Chi_Minh", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$"
    )
    #: how often the scorecard's computed indicators are recomputed for the current year,
    #: in seconds; 0 turns the schedule off (recompute on demand only)
    scorecard_recompute_seconds: float = Field(default=3600.0, ge=0)

    #: operations centre, alerting: an alert cleared less than this many seconds ago is not
    #: raised again (flapping); a rule's own `min_reraise_seconds` overrides it
    ops_alert_min_reraise_seconds: float = Field(default=300.0, ge=0, le=7 * 24 * 3600)
    #: an active critical alert unacknowledged this long gets a reminder event (and again
    #: every as long), in seconds
    ops_alert_reminder_seconds: float = Field(default=900.0, ge=1, le=7 * 24 * 3600)
    #: stale rules and reminders are checked this often, in seconds (one process at a time)
    ops_stale_check_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: the live event stream (`/api/ops/stream`) sends a heartbeat comment this often
    ops_sse_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    #: the CAP 1.2 `sender` of the operations centre's alerts (no spaces, commas, < or &)
    ops_cap_sender: str = Field(default="ops@cityhelix.invalid", pattern=r"^[^\s,<&]{1,200}$")
    #: whether this process evaluates rules on the durable stream (any number may)
    ops_rules_live: bool = True

    #: the operations desk's catalogue (departments, categories with SLA and SOP, working
    #: calendar, escalation chain) as a JSON file; "" uses the shipped ops/desk/data one
    ops_catalogue: str = ""
    #: where incident attachments are stored: "disk" (under ops_attachments_dir) or "s3"
    #: (a bucket of any S3-compatible server: AWS, MinIO, Ceph, ...); and the largest accepted
    ops_attachments_storage: Literal["disk", "s3"] = "disk"
    ops_attachments_dir: str = "./data/attachments"
    #: the S3 backend: the bucket (it must exist), a key prefix, the endpoint of an
    #: S3-compatible server ("" for AWS itself), the region, and the access key; an empty key
    #: uses boto3's own credential chain (environment, instance role)
    ops_attachments_s3_bucket: str = Field(default="", max_length=63)
    ops_attachments_s3_prefix: str = Field(default="attachments/", max_length=200)
    ops_attachments_s3_endpoint_url: str = Field(
        default="", max_length=2000, pattern=r"^(https?://\S+)?$"
    )
    ops_attachments_s3_region: str = Field(default="us-east-1", max_length=50)
    ops_attachments_s3_access_key_id: SecretStr | None = None
    ops_attachments_s3_secret_access_key: SecretStr | None = None
    ops_attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    #: the jurisdiction this server answers for in Open311 GeoReport v2 (`jurisdiction_id`)
    open311_jurisdiction_id: str = Field(default="cityhelix", max_length=200)
    #: the contact and key service named in Open311's discovery document
    open311_contact: str = "Operations centre, open311@cityhelix.example"
    open311_key_service: str = "Ask the operations centre for a key: cityhelix open311 keys create"
    #: webhook deliveries: look for due ones this often (seconds), wait this long before the
    #: first retry (doubled each time, at most an hour), give up into the dead-letter list
    #: after this many attempts, and wait at most this long for a receiver's answer
    ops_webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    ops_webhook_backoff_seconds: float = Field(default=10.0, gt=0, le=3600)
    ops_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    ops_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: hosts (names or addresses, as written in a webhook's URL) that webhooks may reach
    #: although they resolve to loopback, link-local, private or metadata addresses; empty:
    #: public addresses only (server-side request forgery). JSON list in the environment,
    #: e.g. CITYHELIX_OPS_WEBHOOK_ALLOWED_HOSTS='["hooks.internal", "10.0.0.7"]'
    ops_webhook_allowed_hosts: list[str] = Field(default_factory=list, max_length=100)
    #: how often the escalation task looks for overdue incidents, in seconds
    ops_escalation_seconds: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("pillars")
    @classmethod
    def _known_pillars(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in PILLAR_NAMES]
        if unknown:
            raise ValueError(
                f"pillars: unknown {', '.join(map(repr, unknown))}; expected names among "
                f"{', '.join(PILLAR_NAMES)}, comma-separated"
            )
        return ",".join(names)

    @field_validator("province_timezone")
    @classmethod
    def _a_known_time_zone(cls, value: str) -> str:
        """An IANA zone the system knows, refused at start rather than at the first day."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"province_timezone: unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _s3_storage_has_a_bucket(self) -> Settings:
        """Attachments on S3 need a bucket: say so at start, not at the first upload."""
        if self.ops_attachments_storage == "s3" and not self.ops_attachments_s3_bucket:
            raise ValueError(
                "ops_attachments_s3_bucket: required when ops_attachments_storage is 's3'"
            )
        return self

    @property
    def is_postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
