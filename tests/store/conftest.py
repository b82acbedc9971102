import uuid

import pytest

from tests.helpers import new_account


@pytest.fixture
async def account_id(db) -> uuid.UUID:
    """An account of the store tests' own: they need no sandbox behind it."""
    return await new_account(db)
