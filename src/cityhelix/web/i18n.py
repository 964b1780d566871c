"""UI languages: gettext catalogues (Babel) per language, and the choice of one per request.

The `.po` files in `i18n/` are the source; they are compiled in memory when first needed
(no `.mo` build step, nothing generated to forget). The choice is the language cookie,
else the browser's Accept-Language, else English.
"""

from __future__ import annotations

import functools
import gettext
from datetime import datetime
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import Request

from cityhelix.web.const import LANGUAGE_COOKIE, LANGUAGES, PORTAL_LANGUAGES

CATALOGUES = Path(__file__).with_name("i18n")
DOMAIN = "messages"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogues of `language`, merged (English, the source language, has none).

    Every `*.po` file of the language counts: `messages.po` is the one `make messages`
    keeps in step with the templates, and an area of the web layer may keep its own file
    beside it, so two areas' text never collides in one file.
    """
    sources = sorted((CATALOGUES / language / "LC_MESSAGES").glob("*.po"))
    if language == LANGUAGES[0] or not sources:
        return gettext.NullTranslations()
    merged: Translations | None = None
    for po_file in sources:
        with po_file.open("rb") as source:
            catalogue = read_po(source, locale=language, domain=DOMAIN)
        compiled = BytesIO()
        write_mo(compiled, catalogue)
        compiled.seek(0)
        one = Translations(compiled, domain=DOMAIN)
        merged = one if merged is None else merged.merge(one)
    assert merged is not None
    return merged


def choose_language(request: Request, offered: tuple[str, ...] = LANGUAGES) -> str:
    """The cookie's language, else the best of Accept-Language, else the default.

    `offered` is the console's English and Vietnamese unless a page speaks more: the
    investor portal passes `PORTAL_LANGUAGES`, so a cookie of "zh" chooses Chinese there
    while the console, which has no Chinese, falls back to Accept-Language.
    """
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in offered:
        return chosen
    wanted = [
        part.split(";")[0].strip().replace("-", "_")
        for part in request.headers.get("accept-language", "").split(",")[:20]
    ]
    best = Locale.negotiate([w for w in wanted if w], list(offered), sep="_")
    return str(best.language) if best is not None else offered[0]


def choose_portal_language(request: Request) -> str:
    """The investor portal's language: English, Vietnamese or Chinese."""
    return choose_language(request, PORTAL_LANGUAGES)


def format_datetime(moment: datetime | None, language: str) -> str:
    """A moment in the language's medium format, in the server's zone-aware UTC offset."""
    if moment is None:
        return "—"
    return babel_format_datetime(moment, format="medium", locale=language)


def format_number(value: float | int | None, language: str) -> str:
    """A number with the language's separators (1,234.5 / 1.234,5)."""
    if value is None:
        return "—"
    return format_decimal(value, locale=language, decimal_quantization=False)
