"""The SOP tests' small org (tests/sop/conftest.py) for the hand-over tests."""

from tests.sop.conftest import org  # noqa: F401 - the fixture
