"""Symbols that become folder names, and ``~`` in user paths (core/names.py, core/paths.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_bars
from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument, InstrumentRegistry
from tradeforge.core.names import validate_symbol
from tradeforge.data.cache import ParquetStore
from tradeforge.features.cache import FeatureCache


@pytest.mark.parametrize(
    ("name", "expected"),
    [("EURUSD", "EURUSD"), ("eurusd", "EURUSD"), ("US500", "US500"), ("EURUSD.raw", "EURUSD.RAW"),
     ("GER40_cash", "GER40_CASH"), ("BTC-USD", "BTC-USD")],
)  # fmt: skip
def test_valid_symbols_are_upper_cased(name: str, expected: str) -> None:
    assert validate_symbol(name) == expected


@pytest.mark.parametrize(
    "name", ["../../ESCAPE", "..", "a..b", "/abs", "EUR\\USD", "", ".hidden", "-x", "A" * 33,
             "EUR USD", "EUR\x00USD"],
)  # fmt: skip
def test_unsafe_symbols_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid symbol .*use letters, digits"):
        validate_symbol(name)


def test_slash_symbol_suggests_the_plain_name() -> None:
    with pytest.raises(ConfigError, match=r"invalid symbol 'EUR/USD'.*did you mean EURUSD\?"):
        validate_symbol("EUR/USD")


def test_store_refuses_escaping_symbols_before_touching_files(tmp_path: Path) -> None:
    home = tmp_path / "home" / "nested"
    store = ParquetStore(home)
    for call in (
        lambda: store.write("../../ESCAPE", "M5", make_bars(10), source="test"),
        lambda: store.load("../../ESCAPE", "M5"),
        lambda: store.has("../../ESCAPE", "M5"),
        lambda: store.partitions("../../ESCAPE"),
        lambda: store.write("EUR/USD", "M5", make_bars(10), source="test"),
    ):
        with pytest.raises(ConfigError, match="invalid symbol"):
            call()
    assert not any(tmp_path.rglob("*.parquet"))
    assert not (tmp_path / "home" / "ESCAPE").exists()


def test_store_keeps_symbols_upper_case_and_listed(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    store.write("eurusd", "M5", make_bars(10), source="test")
    assert [p.symbol for p in store.partitions()] == ["EURUSD"]
    assert len(store.load("EurUsd", "M5")) == 10


def test_instrument_files_cannot_define_path_escaping_symbols(tmp_path: Path) -> None:
    path = tmp_path / "inst.toml"
    path.write_text('["../x"]\ndigits = 5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"inst.toml: invalid symbol '../x'"):
        InstrumentRegistry.builtin().load_file(path)
    path.write_text('[EURUSD]\ndukascopy_symbol = "../../x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid Dukascopy symbol"):
        InstrumentRegistry.builtin().load_file(path)


def test_instrument_symbol_is_checked_in_the_library_too() -> None:
    with pytest.raises(ConfigError, match="invalid symbol"):
        Instrument("../x", 5, 0.0001, 0.00001, 100_000, 0.01, 0.01, "USD")


def test_tilde_paths_expand_to_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    store = ParquetStore("~/x")
    store.write("EURUSD", "M5", make_bars(10), source="test")
    assert (tmp_path / "x" / "bars" / "EURUSD" / "M5" / "2024.parquet").is_file()
    assert not (tmp_path / "~").exists()
    assert FeatureCache("~/feat").root == tmp_path / "feat"
    (tmp_path / "cfg.toml").write_text("a = 1\n", encoding="utf-8")
    assert read_config_file("~/cfg.toml", "config") == {"a": 1}
