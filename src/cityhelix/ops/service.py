"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------
# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------
# --- desk, for the web's citizen pages and wall screen (cityhelix.web) -----------------
from cityhelix.ops.desk.attachments import AttachmentStore, DiskStore
from cityhelix.ops.desk.catalogue import Catalogue, Category, load_catalogue
from cityhelix.ops.desk.kpis import Window, key_figures
from cityhelix.ops.desk.kpis import window_from as key_figures_window
from cityhelix.ops.desk.open311.filing import (
    FiledRequest,
    Media,
    PublicRequest,
    PublicStep,
    file_request,
    public_request,
)
from cityhelix.ops.errors import OpsError
from cityhelix.settings import Settings

__all__ = [
    "AttachmentStore",
    "Catalogue",
    "Category",
    "FiledRequest",
    "Media",
    "OpsError",
    "PublicRequest",
    "PublicStep",
    "Window",
    "citizen_attachment_store",
    "file_request",
    "key_figures",
    "key_figures_window",
    "load_catalogue",
    "public_request",
]


def citizen_attachment_store(settings: Settings) -> AttachmentStore:
    """Where a citizen's photo goes: the store the desk's own attachments use."""
    return DiskStore(settings.ops_attachments_dir)
