"""A project folder with a home beside it, as for the run tests."""

from run.conftest import project  # noqa: F401 - the fixture
