import pytest

from lmgate.policies.ratelimit import go_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.02, "20ms"),
        (0.5, "500ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (59.9996, "1m0s"),
        (60, "1m0s"),
        (90.2, "1m30.2s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (-3, "0s"),
    ],
)
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text
