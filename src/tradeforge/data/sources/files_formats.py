"""Layout detection for bar files: which export a CSV is, its separator, encoding and columns.

Only the first few lines are read. Detection is deliberately strict: a file is recognised only
when its header (or, for MetaTrader 4's header-less export, its first line) says unambiguously
what it is; anything else is a `ConfigError` that lists the known formats and asks for
``format=``. The values themselves are parsed in `tradeforge.data.sources.files`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tradeforge.core.errors import ConfigError, DataError

FORMATS: dict[str, str] = {
    "mt5": "MetaTrader 5 history export: <DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> "
    "<VOL> <SPREAD>, tab separated, dates like 2024.01.02, spread in points",
    "mt4": "MetaTrader 4 export: Date,Time,Open,High,Low,Close,Volume (with or without header)",
    "dukascopy": "Dukascopy CSV export: 'Gmt time' / 'Local time' (GMT+0200 offsets) / 'Etc/UTC' "
    "then Open,High,Low,Close,Volume",
    "generic": "timestamp,open,high,low,close,volume[,spread]: ISO times or epoch s/ms, "
    "spread in price units",
    "parquet": "Parquet with a time index or column and open, high, low, close, volume[, spread]",
}

#: Column roles a layout maps file columns to. "" means: ignore the column.
TIME_ROLES = ("date", "time", "datetime")
NUMERIC_ROLES = ("open", "high", "low", "close", "volume", "spread")

_PARQUET_SUFFIXES = (".parquet", ".pq")
_DATE_RE = re.compile(r"^\d{4}([./-]?)\d{2}\1\d{2}$")
_CLOCK_RE = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")

_GENERIC_TIME_NAMES = ("timestamp", "time", "datetime", "date_time", "date", "ts", "time_utc")
_GENERIC_ALIASES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "tick_volume", "tickvol", "v"),
    "spread": ("spread",),
}
_DUKASCOPY_TIME_NAMES = ("gmt time", "local time", "utc", "etc/utc", "time (utc)", "time (gmt)")


@dataclass(frozen=True)
class CsvLayout:
    """How to read one CSV file: separator, encoding, header and the role of each column."""

    format: str
    sep: str
    encoding: str
    compression: str | None
    header: bool
    roles: tuple[str, ...]  # one role per column position ("" = ignored)
    sample: dict[str, str]  # role -> raw text of the first data row (chooses time formats)
    decimal: str = "."

    @property
    def first_data_line(self) -> int:
        """1-based file line number of the first data row."""
        return 2 if self.header else 1

    def position(self, role: str) -> int | None:
        return self.roles.index(role) if role in self.roles else None


def known_formats_text() -> str:
    return "; ".join(f"{name} ({desc})" for name, desc in FORMATS.items())


def _unknown(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path}: {why}. Known formats: {known_formats_text()}. "
        "Pass format=<name> (CLI: --format) to choose one."
    )


# --------------------------------------------------------------------------- reading the head


def compression_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}.get(suffix)


def _raw_head(path: Path, compression: str | None, size: int = 65536) -> bytes:
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as fh:
                return fh.read(size)
        if compression == "bz2":
            with bz2.open(path, "rb") as fh:
                return fh.read(size)
        if compression == "xz":
            with lzma.open(path, "rb") as fh:
                return fh.read(size)
        if compression == "zip":
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise DataError(f"{path}: a zip archive must hold exactly one file")
                with zf.open(names[0]) as fh:
                    return fh.read(size)
        with open(path, "rb") as fh:
            return fh.read(size)
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _encoding_of(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # MetaTrader writes UTF-16 LE with a BOM when asked for Unicode
    if len(raw) >= 4 and raw[1:4:2] == b"\x00\x00" and raw[0] != 0:
        return "utf-16-le"
    return "utf-8"


def head_lines(path: Path, n: int = 5) -> tuple[list[str], str, str | None]:
    """First ``n`` non-blank lines, the text encoding and the compression of a file."""
    compression = compression_of(path)
    raw = _raw_head(path, compression)
    encoding = _encoding_of(raw)
    text = raw.decode(encoding, errors="replace").lstrip("\ufeff")
    _check_text(path, text)
    lines = [ln.strip() for ln in io.StringIO(text) if ln.strip()]
    # the final line of a truncated head may be cut mid-row; keep it only if we read it all
    if len(raw) >= 65536 and lines:
        lines = lines[:-1]
    return lines[:n], encoding, compression


def _check_text(path: Path, text: str) -> None:
    """`DataError` naming the line when the head holds NUL bytes or bytes that are not text
    in the file's encoding: binary data, which the CSV readers would misreport."""
    bad = re.search("[\x00\ufffd]", text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise DataError(f"{path}: line {line} holds binary data, not text: not a CSV file")


def _split(line: str, sep: str) -> list[str]:
    return [f.strip().strip('"').strip() for f in line.split(sep)]


def _guess_sep(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda s: counts[s])
    if counts[best] == 0:
        raise DataError("no separator (tab, ';' or ',') found in the first line")
    return best


def _decimal_of(sep: str, fields: list[str]) -> str:
    """``,`` when a ``;``-separated file writes numbers like ``1,1034``."""
    if sep == ";" and any(re.fullmatch(r"[+-]?\d+,\d+", f) for f in fields):
        return ","
    return "."


# --------------------------------------------------------------------------- format sniffers


def _is_data_row(fields: list[str]) -> bool:
    """True when a line looks like values (a time then four numbers), not like a header."""
    return (
        len(fields) >= 5
        and all(_NUMBER_RE.match(f) for f in fields[1:5] if f)
        and bool(re.match(r"^\d", fields[0]))
    )


def _positional(fields: list[str], roles: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
    padded = roles[: len(fields)] + ("",) * max(0, len(fields) - len(roles))
    return False, padded


def _mt5(header: list[str], forced: bool) -> tuple[bool, tuple[str, ...]] | None:
    names = [h.upper() for h in header]
    if "<DATE>" in names:
        if "<BID>" in names or "<ASK>" in names:
            raise ConfigError("this is a MetaTrader tick export (<BID>/<ASK>); import bars instead")
        mapping = {
            "<DATE>": "date",
            "<TIME>": "time",
            "<OPEN>": "open",
            "<HIGH>": "high",
            "<LOW>": "low",
            "<CLOSE>": "close",
            "<SPREAD>": "spread",
        }
        vol = "<TICKVOL>" if "<TICKVOL>" in names else "<VOL>"
        return True, tuple("volume" if n == vol else mapping.get(n, "") for n in names)
    if forced and len(header) >= 3 and _DATE_RE.match(header[0]) and _CLOCK_RE.match(header[1]):
        return _positional(
            header, ("date", "time", "open", "high", "low", "close", "volume", "", "spread")
        )
    return None


def _looks_like_mt4_row(fields: list[str]) -> bool:
    return (
        len(fields) in (6, 7)
        and bool(_DATE_RE.match(fields[0]))
        and bool(_CLOCK_RE.match(fields[1]))
        and all(_NUMBER_RE.match(f) for f in fields[2:])
    )


def _mt4(header: list[str], forced: bool) -> tuple[bool, tuple[str, ...]] | None:
    names = [h.lower() for h in header]
    if names[:6] == ["date", "time", "open", "high", "low", "close"]:
        roles: tuple[str, ...] = ("date", "time", "open", "high", "low", "close")
        if len(names) > 6 and names[6] in _GENERIC_ALIASES["volume"]:
            roles += ("volume",)
        return True, roles + ("",) * (len(names) - len(roles))
    if _looks_like_mt4_row(header) or (
        forced and len(header) >= 3 and _DATE_RE.match(header[0]) and _CLOCK_RE.match(header[1])
    ):
        return _positional(header, ("date", "time", "open", "high", "low", "close", "volume"))
    return None


def _dukascopy(header: list[str], forced: bool) -> tuple[bool, tuple[str, ...]] | None:
    names = [h.lower() for h in header]
    time_name = names[0]
    is_zone = "/" in time_name and not time_name[:1].isdigit()  # e.g. "Etc/UTC"
    if (time_name in _DUKASCOPY_TIME_NAMES or is_zone) and names[1:5] == [
        "open",
        "high",
        "low",
        "close",
    ]:
        roles: tuple[str, ...] = ("datetime", "open", "high", "low", "close")
        if len(names) > 5 and names[5] == "volume":
            roles += ("volume",)
        return True, roles + ("",) * (len(names) - len(roles))
    if forced and _is_data_row(header):
        return _positional(header, ("datetime", "open", "high", "low", "close", "volume"))
    return None


def _generic(header: list[str], forced: bool) -> tuple[bool, tuple[str, ...]] | None:
    names = [h.lower() for h in header]
    time_cols = [i for i, n in enumerate(names) if n in _GENERIC_TIME_NAMES]
    if len(time_cols) == 1:  # "date" + "time" columns is MetaTrader 4's layout, not this one
        roles = [""] * len(names)
        roles[time_cols[0]] = "datetime"
        for role, aliases in _GENERIC_ALIASES.items():
            for i, n in enumerate(names):
                if n in aliases and not roles[i]:
                    roles[i] = role
                    break
        if all(r in roles for r in ("open", "high", "low", "close")):
            return True, tuple(roles)
        return None
    if forced and _is_data_row(header):
        return _positional(header, ("datetime", "open", "high", "low", "close", "volume", "spread"))
    return None


_SNIFFERS = {"mt5": _mt5, "mt4": _mt4, "dukascopy": _dukascopy, "generic": _generic}


def is_parquet(path: Path) -> bool:
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def detect_format(path: str | Path) -> str:
    """Name of the layout of ``path`` (one of `FORMATS`); ConfigError when unknown/ambiguous."""
    path = Path(path)
    if is_parquet(path):
        return "parquet"
    return detect_csv_layout(path).format


def detect_csv_layout(path: str | Path, format: str = "auto") -> CsvLayout:
    """Work out how to read a CSV export; ``format`` forces one layout (see `FORMATS`)."""
    path = Path(path)
    if format not in ("auto", *_SNIFFERS):
        raise ConfigError(f"unknown format {format!r}; use auto or one of {', '.join(FORMATS)}")
    lines, encoding, compression = head_lines(path)
    if not lines:
        raise DataError(f"{path}: the file is empty")
    try:
        sep = _guess_sep(lines[0])
    except DataError as exc:
        raise _unknown(path, str(exc)) from None
    header = _split(lines[0], sep)
    second = _split(lines[1], sep) if len(lines) > 1 else None

    if format == "auto":
        found = {}
        for name, sniff in _SNIFFERS.items():
            hit = sniff(header, False)
            if hit is not None:
                found[name] = hit
        if not found:
            if _is_data_row(header):
                raise _unknown(
                    path,
                    f"the first line {lines[0]!r} has no header row, so its layout is ambiguous",
                )
            raise _unknown(path, f"unrecognised header {lines[0]!r}")
        if len(found) > 1:
            raise _unknown(path, f"the header {lines[0]!r} matches several formats {list(found)}")
        (name, (has_header, roles)), *_ = found.items()
    else:
        hit = _SNIFFERS[format](header, True)
        if hit is None:
            raise _unknown(path, f"the first line {lines[0]!r} does not fit format {format!r}")
        name, (has_header, roles) = format, hit

    data_fields = second if has_header else header
    if data_fields is None:
        raise DataError(f"{path}: no data rows after the header")
    sample = {r: data_fields[i] for i, r in enumerate(roles) if r and i < len(data_fields)}
    return CsvLayout(
        format=name,
        sep=sep,
        encoding=encoding,
        compression=compression,
        header=has_header,
        roles=tuple(roles),
        sample=sample,
        decimal=_decimal_of(sep, data_fields),
    )
