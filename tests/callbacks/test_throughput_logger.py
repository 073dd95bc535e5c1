from __future__ import annotations

from callbacks import ThroughputLogger


def test_times_and_throughput_from_batch_size(regression_data, make_regressor):
    x, y = regression_data
    model = make_regressor()
    history = model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[ThroughputLogger(batch_size=16)],
    )
    times = history.history["epoch_time"]
    rates = history.history["samples_per_second"]
    assert len(times) == len(rates) == 2
    assert all(t > 0 for t in times)
    assert all(r > 0 for r in rates)
    # 48 training rows = 3 steps of 16; the rate excludes validation time, so it is
    # at least samples / whole-epoch time.
    for seconds, rate in zip(times, rates, strict=True):
        assert rate >= 48 / seconds


def test_samples_per_epoch_overrides_and_unknown_count_logs_time_only(
    regression_data, make_regressor
):
    x, y = regression_data
    explicit = ThroughputLogger(samples_per_epoch=1000)
    unknown = ThroughputLogger()
    history = make_regressor().fit(
        x, y, epochs=1, batch_size=32, verbose=0, callbacks=[unknown, explicit]
    )
    # `unknown` ran first, so its logs had no samples_per_second of its own.
    seconds = history.history["epoch_time"][0]
    assert history.history["samples_per_second"][0] >= 1000 / seconds
    assert seconds > 0


def test_without_sample_count_no_rate_is_logged(regression_data, make_regressor):
    x, y = regression_data
    history = make_regressor().fit(
        x, y, epochs=1, batch_size=32, verbose=0, callbacks=[ThroughputLogger()]
    )
    assert history.history["epoch_time"][0] > 0
    assert "samples_per_second" not in history.history


def test_get_config_round_trips():
    timer = ThroughputLogger(samples_per_epoch=10, batch_size=2)
    assert ThroughputLogger(**timer.get_config()).get_config() == timer.get_config()
