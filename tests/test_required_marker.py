"""The ``required`` marker: a skip stays a skip locally and becomes a failure under CI=true."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest

@pytest.mark.required("a browser")
@pytest.mark.skipif(True, reason="no browser here")
def test_marked_skipif():
    pass

@pytest.mark.required("a mountable tmpfs")
def test_marked_skip_inside():
    pytest.skip("cannot mount")

def test_unmarked_skip():
    pytest.skip("optional")

@pytest.mark.required("nothing missing")
def test_marked_pass():
    pass
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401")
    pytester.makeini("[pytest]\nmarkers =\n    required(what): needed\naddopts = --strict-markers")
    pytester.makepyfile(test_inner=INNER)
    return pytester


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_required_tests_skip(inner, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=3, passed=1)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_under_ci_a_skipped_required_test_fails_and_says_what_was_missing(
    inner, monkeypatch, value
):
    monkeypatch.setenv("CI", value)
    result = inner.runpytest("-p", "no:cacheprovider", "-rfE")
    # A skipif skips at setup (reported as an error), pytest.skip() during the test (a failure).
    result.assert_outcomes(errors=1, failed=1, skipped=1, passed=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*test_marked_skipif*required test skipped under CI=true (a browser): no browser here"]
    )
    result.stdout.fnmatch_lines(
        [
            "*test_marked_skip_inside*required test skipped under CI=true (a mountable tmpfs): "
            "cannot mount"
        ]
    )
