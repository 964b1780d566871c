"""Constants of the web layer: cookie names, languages, device states and their colours."""

from __future__ import annotations

from typing import Final

from cityhelix.auth.principal import Role

SESSION_COOKIE: Final = "cityhelix_session"
CSRF_COOKIE: Final = "cityhelix_csrf"
LANGUAGE_COOKIE: Final = "cityhelix_lang"
#: the form field every POST form carries, compared with the CSRF cookie
CSRF_FIELD: Final = "csrf_token"

#: UI languages, the first is the default; each but English has a catalogue in i18n/
LANGUAGES: Final = ("en", "vi")
#: the public investor portal (/invest) speaks Chinese too; its catalogues are in i18n/zh/
PORTAL_LANGUAGES: Final = ("en", "vi", "zh")

#: who may open the console (tenants see their parks page, the public only the public pages)
STAFF_ROLES: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.DEPARTMENT, Role.ANALYST})
#: who may sign in on the web: the staff, and park tenants (to their own stations on /parks)
SIGN_IN_ROLES: Final = STAFF_ROLES | {Role.TENANT}


def home_of(role: Role) -> str:
    """The page a signed-in user starts on: the console, or a tenant's parks page."""
    return "/parks" if role is Role.TENANT else "/console"


#: device states on the map, in order of precedence. The operations centre adds "alert"
#: (an open alert on the Thing) ahead of these through `city_map.STATE_HOOKS`.
STATES: Final = ("alert", "normal", "stale", "off")
#: marker colours per state; each passes WCAG AA (3:1 for graphics) on the map's background
STATE_COLOURS: Final = {
    "alert": "#c62828",
    "normal": "#1b7f3b",
    "stale": "#b26a00",
    "off": "#5f6368",
}

#: how often the live feed sends what it gathered to the browsers, in seconds
LIVE_TICK_SECONDS: Final = 0.25
#: Observations the live feed reads per tick at most; more are counted, not sent
LIVE_MAX_PER_TICK: Final = 5_000
#: browsers connected to the live feed at once, per process
LIVE_MAX_CLIENTS: Final = 500
