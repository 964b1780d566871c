"""The city pillar's constants: Thing kinds it knows, its route prefix, its consumer groups."""

from __future__ import annotations

#: every city route lives under this prefix
API_PREFIX = "/api/city"

#: `properties.kind` of the Things each domain reads (the demo province's keys)
KIND_AIR = "air_quality"
KIND_TRAFFIC = "traffic"
KIND_CAMERA = "camera"
KIND_WATER_LEVEL = "water_level"
KIND_RAIN = "rain_gauge"
KIND_PARK_OUTLET = "park_outlet"
KIND_PARK_TENANT = "park_tenant"
KIND_PARK_STACK = "park_stack"

#: the durable stream's consumer group that turns camera events into alerts
CAMERA_GROUP = "city-camera-events"
#: the durable stream's consumer group that tracks every new Task (street lighting)
LIGHTING_TASKS_GROUP = "city-lighting-tasks"

#: the user the pillar's own writes (rules it derives) are audited as
CITY_PRINCIPAL_NAME = "city-services"
