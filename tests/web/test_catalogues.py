"""Every UI text of the web layer has its Vietnamese translation.

The strings are extracted from the templates and the Python of `web/` exactly as
`make messages` extracts them (Babel, `babel.cfg`), then looked up in the merged catalogues
the app serves; a new string without its translation fails here, not in front of a user.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from cityhelix.web.i18n import translations

ROOT = Path(__file__).resolve().parents[2]


def _ui_texts() -> set[str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    texts: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "gettext": None, "N_": None}
    ):
        texts.update([message] if isinstance(message, str) else [m for m in message if m])
    return texts


def test_the_extraction_finds_the_templates_text() -> None:
    texts = _ui_texts()
    assert "Sign in" in texts
    assert len(texts) > 50


def test_every_ui_text_has_a_vietnamese_translation() -> None:
    # the compiled catalogue's own table: a translation may rightly equal its source ("Camera")
    translated = translations("vi")._catalog  # type: ignore[attr-defined]
    missing = sorted(text for text in _ui_texts() if text not in translated)
    assert missing == []
