"""Read one cell as HSS may write it: typed by the spreadsheet, or all text.

A reader cannot know whether HSS writes `risky` as a boolean cell, `true`,
`yes`, `是` or `1`, nor whether counts and times are numbers or text, so each
function here accepts every plausible spelling and refuses the rest with a
`ValueError` (the summary counts those as unreadable values, it never guesses).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, TypeAlias

from bot.domain.model import ClusterType, ContainerStatus

Cell: TypeAlias = str | int | float | bool | datetime | date | time | timedelta | None

_TRUE: Final = frozenset({"true", "yes", "y", "1", "是"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "否"})
_EXCEL_EPOCH: Final = datetime(1899, 12, 30, tzinfo=UTC)  # serial 1 is 1900-01-01 (1900 system)
_SERIAL_MAX: Final = 2_958_465  # 9999-12-31 as a spreadsheet serial number
_EPOCH_MS_MIN: Final = 10**11  # below this a number is not epoch milliseconds (1973-03-03)
_EPOCH_MS_MAX: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_COUNT_TEXT: Final = re.compile(r"[0-9]{1,3}(,[0-9]{3})+|[0-9]+(\.0*)?")
_NUMBER_TEXT: Final = re.compile(r"[0-9]+(\.[0-9]+)?")
_STATUSES: Final = {s.value.casefold(): s.value for s in ContainerStatus}
_CLUSTER_TYPES: Final = {t.value.casefold(): t.value for t in ClusterType}


def text(cell: Cell) -> str | None:
    """Return the cell as trimmed text; None when blank. A whole float reads as an integer."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    value = str(cell).strip()
    return value or None


def boolean(cell: Cell) -> bool | None:
    """Read true/false, yes/no, 是/否 or 1/0 (text, number or boolean cell); None when blank."""
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int | float) and cell in (0, 1):
        return bool(cell)
    value = text(cell)
    if value is None:
        return None
    folded = value.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError("not a yes/no value")


def count(cell: Cell) -> int | None:
    """Read a non-negative whole number, as a number or as text (`12`, `12.0`, `1,234`)."""
    if type(cell) is float and cell >= 0 and cell.is_integer():  # how xlsx stores counts
        return int(cell)
    if isinstance(cell, bool):
        raise ValueError("a yes/no value, not a count")
    if isinstance(cell, int):
        if cell < 0:
            raise ValueError("a negative count")
        return cell
    if isinstance(cell, float):
        if not cell.is_integer() or cell < 0:
            raise ValueError("not a whole, non-negative number")
        return int(cell)
    value = text(cell)
    if value is None:
        return None
    if not _COUNT_TEXT.fullmatch(value):
        raise ValueError("not a count")
    return int(float(value.replace(",", "")))


def moment(cell: Cell) -> datetime | None:
    """Read a time: a date cell, a spreadsheet serial, epoch milliseconds or ISO-like text.

    Times without a zone are returned as written (naive): the file does not say
    which zone HSS meant, and the summary only orders them. Times with a zone
    are turned into naive UTC so that every time read can be compared.
    """
    found = _moment(cell)
    if found is not None and found.tzinfo is not None:
        found = found.astimezone(UTC).replace(tzinfo=None)  # comparable with naive times
    return found


def _moment(cell: Cell) -> datetime | None:
    if isinstance(cell, bool):
        raise ValueError("a yes/no value, not a time")
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day)
    if isinstance(cell, int | float):
        return _from_number(float(cell))
    value = text(cell)
    if value is None:
        return None
    if _NUMBER_TEXT.fullmatch(value):
        return _from_number(float(value))
    iso = value.replace("/", "-")
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError("not a date or time") from None


def _from_number(number: float) -> datetime:
    """Epoch milliseconds (HSS's own convention) when large, else a spreadsheet serial."""
    if _EPOCH_MS_MIN <= number <= _EPOCH_MS_MAX:
        return datetime.fromtimestamp(number / 1000, UTC).replace(tzinfo=None)
    if 0 < number <= _SERIAL_MAX:
        return (_EXCEL_EPOCH + timedelta(days=number)).replace(tzinfo=None)
    raise ValueError("a number that is neither a spreadsheet date nor epoch milliseconds")


def status(cell: Cell) -> str | None:
    """Return the status in the API's spelling when it is one, else as written."""
    value = text(cell)
    return None if value is None else _STATUSES.get(value.casefold(), value)


def cluster_type(cell: Cell) -> str | None:
    """Return the cluster type in the API's spelling when it is one, else as written."""
    value = text(cell)
    return None if value is None else _CLUSTER_TYPES.get(value.casefold(), value)
