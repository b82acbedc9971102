"""The README's demo command, run as a user would, against the test database and Redis."""

from tests.cli.test_cli import ashby_sync
from tests.conftest import TEST_REDIS_URL


async def test_the_demo_runs_end_to_end(db, database_url, redis_client) -> None:
    code, out, err = await ashby_sync(
        "demo", "--candidates", "300", env={"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL}, limit_s=120
    )
    assert code == 0, err
    assert "Traceback" not in err
    assert "3 events applied by 1 drain job(s); inbox backlog 0, failed 0" in out
    assert "is Accepted (CandidateAccepted)" in out
    assert "finds: ['Renamed Demo" in out
    async with db.acquire() as conn:
        assert await conn.fetchval("select count(*) from candidates where deleted_at is null") == 300
