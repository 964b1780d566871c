"""Every text of the investor portal has its Chinese (Simplified) translation, and the
portal's language choice offers Chinese while the console's stays English/Vietnamese.

The portal's text is extracted as `make messages` would (Babel, `babel.cfg`) from the
portal's templates and Python, then looked up in the merged `zh` catalogues the app serves.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from starlette.requests import Request

from cityhelix.web.const import LANGUAGE_COOKIE, LANGUAGES, PORTAL_LANGUAGES
from cityhelix.web.i18n import choose_language, choose_portal_language, translations

ROOT = Path(__file__).resolve().parents[2]
#: where the portal's text lives (the staff pages are English and Vietnamese only)
PORTAL_SOURCES = ("templates/invest/portal/", "routes/invest_portal.py", "routes/invest_forms.py")


def _portal_texts() -> set[str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    texts: set[str] = set()
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "gettext": None, "N_": None}
    ):
        if any(part in filename.replace("\\", "/") for part in PORTAL_SOURCES):
            texts.update([message] if isinstance(message, str) else [m for m in message if m])
    return texts


def test_the_extraction_finds_the_portal_text() -> None:
    texts = _portal_texts()
    assert "Find a site for your project" in texts
    assert "Semiconductors and electronic components" in texts  # marked with N_ in Python
    assert len(texts) > 80


def test_every_portal_text_has_a_chinese_translation() -> None:
    translated = translations("zh")._catalog  # type: ignore[attr-defined]
    missing = sorted(text for text in _portal_texts() if not translated.get(text))
    assert missing == []


def _request(cookie: str | None, accept: str = "") -> Request:
    headers = [(b"accept-language", accept.encode())]
    if cookie:
        headers.append((b"cookie", f"{LANGUAGE_COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def test_chinese_is_offered_on_the_portal_only() -> None:
    assert PORTAL_LANGUAGES == ("en", "vi", "zh") and "zh" not in LANGUAGES
    assert choose_portal_language(_request("zh")) == "zh"
    assert choose_portal_language(_request(None, "zh-CN,zh;q=0.9")) == "zh"
    # the console has no Chinese: a zh cookie falls back to Accept-Language, then English
    assert choose_language(_request("zh", "vi")) == "vi"
    assert choose_language(_request("zh")) == "en"
    assert choose_language(_request(None, "zh-CN")) == "en"
    assert choose_language(_request("vi")) == choose_portal_language(_request("vi")) == "vi"
