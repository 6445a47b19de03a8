import pytest
import torch

from helpers import make_text

# CI has two cores; more threads than cores only adds contention.
torch.set_num_threads(2)


@pytest.fixture
def text() -> str:
    return make_text(60_000)



@pytest.fixture
def one_thread():
    """For step-by-step replays of small models: a second thread only adds waiting on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
