import pytest
from ci_release_demo import add


@pytest.mark.regression
def test_add(benchmark):
    assert benchmark(add, 2, 3) == 5
