"""Fixtures of tests/ashby_events.py for this folder's tests."""

from tests.ashby_events import ping_receiver, recorder  # noqa: F401 - fixtures
