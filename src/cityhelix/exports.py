"""Stored text as the platform's file formats can carry it: XML 1.0 (XLSX cells, GeoReport
XML) and spreadsheet cells (CSV and XLSX opened in Excel or LibreOffice), one helper per
rule so that every writer applies the same (issue 17).

Text the databases store may still be text a format cannot hold or should not execute:
- XML 1.0 admits no C0 control character but tab, LF and CR, and neither U+FFFE, U+FFFF
  nor a lone surrogate (XML 1.0 §2.2, production [2] `Char`); an XLSX cell is XML, so
  openpyxl refuses such text (`IllegalCharacterError`) and ElementTree writes a document no
  parser reads. Each such character is written as U+FFFD (the Unicode replacement
  character), which every reader shows the same; OOXML's `_xHHHH_` escape (ECMA-376 Part 1
  §22.9.2.19, ST_Xstring) is left out because only Excel decodes it.
- A cell whose text starts with `=`, `+`, `-`, `@`, tab or CR is run as a formula by
  spreadsheets (CSV injection, OWASP "CSV Injection"): in CSV such text is prefixed with
  a single quote, as OWASP advises; in XLSX it is stored as a string cell, which no
  spreadsheet evaluates, so it reads unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet
    from openpyxl.worksheet.worksheet import Worksheet

#: what XML 1.0 cannot carry (§2.2 `Char`): C0 controls but tab/LF/CR, surrogates, FFFE/FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: the first characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
REPLACEMENT = "\ufffd"


def xml_text(text: str) -> str:
    """`text` with each character XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub(REPLACEMENT, text)


def csv_cell(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run as a formula prefixed with `'`; numbers,
    dates and the rest unchanged (a negative number is a number, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A row for `csv.writer`: None as an empty cell, each text as `csv_cell` writes it."""
    return ["" if value is None else csv_cell(value) for value in values]


def xlsx_row(sheet: Worksheet | WriteOnlyWorksheet, values: Iterable[Any]) -> list[Any]:
    """A row for `sheet.append`: text as a string cell (never a formula) of XML-safe text;
    other values as openpyxl writes them."""
    from openpyxl.cell.cell import Cell  # here: the edge imports this module, not openpyxl

    row: list[Any] = []
    for value in values:
        if not isinstance(value, str):
            row.append(value)
            continue
        # placed by `append` (row and column 1 until then, as openpyxl's WriteOnlyCell)
        cell = Cell(sheet, row=1, column=1, value=xml_text(value))
        cell.data_type = "s"  # openpyxl would make "=..." a formula
        row.append(cell)
    return row
