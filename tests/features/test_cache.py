import pandas as pd
import pytest

from tradeforge.features import (
    FeatureCache,
    FeatureEngine,
    Param,
    register_feature,
    unregister_feature,
)


@pytest.fixture
def calls():
    calls = []

    @register_feature(
        "t_cached", params=[Param("n", int, 1)], inputs=("close",), outputs=("t_cached",)
    )
    def t_cached(close, *, n):
        calls.append(n)
        return close + n

    yield calls
    unregister_feature("t_cached")


def test_second_run_reads_the_cache(bars, calls, tmp_path):
    cache = FeatureCache(tmp_path / "features")
    first = FeatureEngine(cache).compute(
        bars, ["t_cached(2)", "structure(3)@M30", "sessions"], "M5"
    )
    assert calls == [2]
    again = FeatureEngine(tmp_path / "features").compute(
        bars, ["t_cached(2)", "structure(3)@M30", "sessions"], "M5"
    )
    assert calls == [2]
    pd.testing.assert_frame_equal(first, again)


def test_cache_keys_on_data_and_params(bars, calls, tmp_path):
    engine = FeatureEngine(tmp_path)
    engine.compute(bars, ["t_cached(2)"], "M5")
    engine.compute(bars, ["t_cached(3)"], "M5")
    changed = bars.copy()
    changed.iloc[-1, changed.columns.get_loc("close")] += 1e-4
    engine.compute(changed, ["t_cached(2)"], "M5")
    engine.compute(bars.iloc[:-1], ["t_cached(2)"], "M5")
    assert calls == [2, 3, 2, 2]
    engine.compute(changed, ["t_cached(2)"], "M5")
    assert calls == [2, 3, 2, 2]
    assert engine.cache.hits >= 1
