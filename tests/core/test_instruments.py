import pytest

from tradeforge.core.errors import ConfigError, UnknownSymbolError
from tradeforge.core.instruments import InstrumentRegistry, get_instrument


def test_builtin_specs():
    eur = get_instrument("EURUSD")
    assert (eur.digits, eur.pip_size, eur.tick_size, eur.point) == (5, 0.0001, 0.00001, 0.00001)
    assert eur.contract_size == 100_000 and eur.quote_currency == "USD"
    jpy = get_instrument("usdjpy")
    assert (jpy.digits, jpy.pip_size, jpy.point) == (3, 0.01, 0.001)
    xau = get_instrument("XAUUSD")
    assert xau.contract_size == 100 and xau.point == 0.001
    assert get_instrument("US500").dukascopy_symbol == "USA500IDXUSD"
    assert get_instrument("EUR/USD").symbol == "EURUSD"


def test_registry_covers_majors_minors_metals_indices():
    symbols = set(InstrumentRegistry.builtin().symbols())
    assert {"EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCAD", "USDCHF", "NZDUSD"} <= symbols
    assert {"EURGBP", "EURJPY", "GBPJPY", "XAUUSD", "US500", "GER40"} <= symbols


def test_unknown_symbol_lists_close_matches():
    with pytest.raises(UnknownSymbolError, match="did you mean EURUSD"):
        get_instrument("EURUSX")
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'QQQQQQ'$"):
        get_instrument("QQQQQQ")


def test_round_lots():
    eur = get_instrument("EURUSD")
    assert eur.round_lots(0.1299) == 0.12
    assert eur.round_lots(0.009) == 0.0
    assert eur.round_lots(1e6) == eur.max_lot
    assert eur.round_lots(0.3) == 0.3  # 0.3 / 0.01 is 29.999… in floating point
    assert eur.round_price(1.123456) == 1.12346


def test_user_file_overrides_and_adds(tmp_path):
    toml = tmp_path / "inst.toml"
    toml.write_text(
        "[EURUSD]\ncontract_size = 1000\n\n[BTCUSD]\ndigits = 2\npip_size = 1.0\ntick_size = 0.01\n"
        'contract_size = 1\nmin_lot = 0.01\nlot_step = 0.01\nquote_currency = "USD"\n'
        'asset_class = "crypto"\n'
    )
    reg = InstrumentRegistry.builtin().load_file(toml)
    assert reg.get("EURUSD").contract_size == 1000
    assert reg.get("EURUSD").pip_size == 0.0001  # untouched fields kept
    assert reg.get("BTCUSD").digits == 2
    yml = tmp_path / "inst.yaml"
    yml.write_text("GBPUSD:\n  min_lot: 0.1\n")
    assert reg.load_file(yml).get("GBPUSD").min_lot == 0.1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[EURUSD]\nbogus = 1\n", "unknown keys"),
        ("[NEWSYM]\ndigits = 2\n", "incomplete"),
        ("[EURUSD]\npip_size = -1\n", "pip_size must be > 0"),
        ("[EURUSD\n", "cannot parse"),
    ],
)
def test_bad_instrument_file(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        InstrumentRegistry.builtin().load_file(path)


def test_missing_instrument_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        InstrumentRegistry.builtin().load_file(tmp_path / "nope.toml")
