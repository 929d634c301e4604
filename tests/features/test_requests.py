import pytest

from tradeforge.features import FeatureError, FeatureRequest, parse_request


@pytest.mark.parametrize(
    ("text", "name", "args", "params", "output", "tf"),
    [
        ("true_range", "true_range", (), {}, None, None),
        ("atr(14)", "atr", (14,), {}, None, None),
        ("ema(period=50)@M30", "ema", (), {"period": 50}, None, "M30"),
        (" bollinger(20, 2.0).bb_upper ", "bollinger", (20, 2.0), {}, "bb_upper", None),
        ("macd(12,26,9)@h4", "macd", (12, 26, 9), {}, None, "H4"),
        ("structure(3).trend@1h", "structure", (3,), {}, "trend", "H1"),
        (
            "distance_atr('ema(50)@M30', 14)",
            "distance_atr",
            ("ema(50)@M30", 14),
            {},
            None,
            None,
        ),
    ],
)
def test_parse_forms(text, name, args, params, output, tf):
    req = parse_request(text)
    assert (req.name, req.args, dict(req.params), req.output, req.timeframe) == (
        name,
        args,
        params,
        output,
        tf,
    )
    assert parse_request(str(req)) == req


@pytest.mark.parametrize(
    "text", ["", "9atr", "atr(14", "atr(x)", "atr(**{})", "atr(14) junk", "atr@X5"]
)
def test_parse_errors(text):
    with pytest.raises(FeatureError):
        parse_request(text)


def test_request_object_normalises_timeframe():
    assert FeatureRequest("ema", {"period": 50}, timeframe="30min").timeframe == "M30"
