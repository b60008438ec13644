"""A CSV audience's rows as recipients: the header's columns, then each row's ``to`` and placeholder values.

The CSV: a header row with a ``to`` column (the recipient's number, or a ``user.<id>``) and one column per
template placeholder (``{{first_name}}`` -> column ``first_name``); other columns are ignored; UTF-8 (a BOM is
fine). Blank lines are skipped. Row ``n`` (0-based, header and blank lines excluded) becomes message
``<campaign_id>-<n>``. Shared by the laptop's CSV path (``local/mmapi/csvsend.py``) and the S3 import, whose
rows come as Step Functions' ItemReader gives them: one object per row, keyed by the header's names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mmcore.campaigns.models import Recipient
from mmcore.exceptions import InvalidInput

BOM = "\ufeff"


def columns(header: list[str] | None, names: frozenset[str], where: str = "csv") -> dict[str, int]:
    """Column positions of ``to`` and of every placeholder the template uses; InvalidInput naming
    ``<where>.<column>`` for each one missing."""
    if not header:
        raise InvalidInput.fields([(where, "empty file: expected a header row with a 'to' column")])
    positions = {name.strip().lstrip(BOM).strip(): i for i, name in reversed(list(enumerate(header)))}
    problems = (
        [(f"{where}.to", "missing column: every row needs the recipient's number")]
        if "to" not in positions
        else []
    )
    problems += [
        (f"{where}.{name}", f"missing column: the template uses {{{{{name}}}}}")
        for name in sorted(names - positions.keys())
    ]
    if problems:
        raise InvalidInput.fields(problems)
    return {name: positions[name] for name in ("to", *sorted(names))}


def chunks(
    reader: Iterable[list[str]], positions: dict[str, int], size: int
) -> Iterator[list[tuple[int, Recipient]]]:
    """``(row number, recipient)`` pairs of a ``csv.reader`` past its header, ``size`` at a time."""
    chunk: list[tuple[int, Recipient]] = []
    index = 0
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        cells = {name: row[i] if i < len(row) else "" for name, i in positions.items()}
        to = cells.pop("to")
        chunk.append((index, Recipient.from_cells(to, cells)))
        index += 1
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def recipient(row: Mapping[str, str], names: frozenset[str]) -> Recipient | None:
    """The recipient of one row given as ``{column: value}`` (None for a blank row). A missing cell is empty:
    the row is then recorded invalid, as a bad number or value would be."""
    cells = {str(k).strip().lstrip(BOM).strip(): str(v) for k, v in row.items() if v is not None}
    if not any(v.strip() for v in cells.values()):
        return None
    return Recipient.from_cells(cells.get("to", ""), {name: cells.get(name, "") for name in names})
