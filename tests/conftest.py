import pytest
import torch

from helpers import make_text

# CI has two cores; more threads than cores only adds contention.
torch.set_num_threads(2)


@pytest.fixture
def text() -> str:
    return make_text(60_000)

