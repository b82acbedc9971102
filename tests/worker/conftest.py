"""The webhook recorder fixture (tests/ashby_events.py) for this folder's tests."""

from tests.ashby_events import recorder  # noqa: F401 - a fixture
