import pytest
from exports import random_export


@pytest.fixture(scope="session")
def random_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random tiny ViT export (32 px, depth 4)."""
    return random_export(str(tmp_path_factory.mktemp("export")))
