import pytest

from ganedit.testing import ToyPlugin, make_registry


@pytest.fixture
def registry():
    """Core components + the toy generator, without entry-point plugins."""
    return make_registry(ToyPlugin())
