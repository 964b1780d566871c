"""Jinja2 rendering for the web layer: autoescaped templates with the request's language.

Every page gets `_` (gettext in the chosen language), the signed-in user, the CSRF token
for its forms, and the number/date formatters of that language.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cityhelix.web.const import CSRF_FIELD, LANGUAGES
from cityhelix.web.i18n import choose_language, format_datetime, format_number, translations
from cityhelix.web.kinds import KIND_LABELS, STATE_LABELS
from cityhelix.web.security import csrf_token, set_csrf_cookie

TEMPLATES = Path(__file__).with_name("templates")

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)

#: how each language names itself in the language menu (never translated)
LANGUAGE_NAMES = {"en": "English", "vi": "Tiếng Việt"}


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """The HTML of `template` for this request (and the CSRF cookie when it is new)."""
    language = choose_language(request)
    catalogue = translations(language)
    values: dict[str, Any] = {
        "request": request,
        "_": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "lang": language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "user": getattr(request.state, "user", None),
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "number": lambda value: format_number(value, language),
        "moment": lambda value: format_datetime(value, language),
        "path": request.url.path,
        "state_labels": STATE_LABELS,
        "kind_labels": {kind: catalogue.gettext(label) for kind, label in KIND_LABELS.items()},
        "state_label_text": {
            state: catalogue.gettext(label) for state, label in STATE_LABELS.items()
        },
    }
    values.update(context or {})
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    set_csrf_cookie(request, response)
    return response


def render_labelled(
    request: Request,
    template: str,
    context: dict[str, Any],
    label_of: Callable[[Callable[[str], str], Any], str],
    status: int = 200,
) -> HTMLResponse:
    """`render` with `label(code)`: `label_of(gettext, code)`, a pillar's code named in the
    page's language."""
    gettext = translations(choose_language(request)).gettext
    values = {"label": lambda code: label_of(gettext, code), **context}
    return render(request, template, values, status=status)
