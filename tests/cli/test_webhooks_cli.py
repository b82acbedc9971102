"""`ashby-sync webhooks` as a user runs it: a real process, real Postgres, the sandbox over HTTP pinging a receiver."""

import pytest
from pydantic import SecretStr

from store import accounts, ashby_webhooks
from store.secrets import SecretBox
from tests.ashby_events import PingReceiver
from tests.cli.test_cli import ashby_sync, assert_one_line_error
from tests.conftest import TEST_REDIS_URL
from tests.helpers import SECRET_KEY


async def webhooks(*args: str, env: dict[str, str], limit_s: float = 60) -> tuple[int, str, str]:
    """Run `ashby-sync webhooks ARGS`; returns (exit code, stdout, stderr)."""
    return await ashby_sync("webhooks", *args, env=env, limit_s=limit_s)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": TEST_REDIS_URL, "ASHBY_SYNC_SECRET_KEY": SECRET_KEY}


async def test_register_list_rotate_and_delete_end_to_end(
    db, env, fake_ashby, account_id, ping_receiver: PingReceiver
) -> None:
    code, out, err = await webhooks("register", "--account", "sandbox", "--url", ping_receiver.base_url, env=env)
    assert code == 0, out + err
    assert "22 of 22 webhooks enabled" in out
    assert f"{ping_receiver.base_url}/webhooks/ashby/{account_id}" in out
    hooks = dict(fake_ashby.webhooks)
    assert len(hooks) == 22
    assert all(h.enabled for h in hooks.values())
    async with db.acquire() as conn:
        creds = await accounts.get_credentials(conn, SecretBox(SecretStr(SECRET_KEY)), account_id)
        assert {w.id for w in await ashby_webhooks.list_webhooks(conn, account_id)} == set(hooks)
    (secret,) = creds.webhook_secrets
    assert secret.get_secret_value() not in out + err

    code, out, err = await webhooks("list", env=env)
    assert code == 0, out + err
    for hook in hooks.values():
        assert hook.id in out
        assert hook.webhook_type in out

    code, out, err = await webhooks("rotate-secret", "--account", "sandbox", env=env)
    assert code == 0, out + err
    assert "22 webhooks now use the new secret" in out
    async with db.acquire() as conn:
        (new,) = (await accounts.get_credentials(conn, SecretBox(SecretStr(SECRET_KEY)), account_id)).webhook_secrets
    assert new.get_secret_value() != secret.get_secret_value()
    assert {h.secret_token for h in fake_ashby.webhooks.values()} == {new.get_secret_value()}
    assert ping_receiver.refused == 0

    first = next(iter(hooks))
    code, out, err = await webhooks("delete", "--id", first, env=env)
    assert code == 0, out + err
    assert first not in fake_ashby.webhooks
    code, out, err = await webhooks("delete", "--account", "sandbox", env=env)
    assert code == 0, out + err
    assert fake_ashby.webhooks == {}
    async with db.acquire() as conn:
        assert await ashby_webhooks.list_webhooks(conn) == []


async def test_register_reports_webhooks_saved_disabled_and_how_to_fix_it(
    db, env, fake_ashby, account_id, ping_receiver: PingReceiver
) -> None:
    ping_receiver.status = 503
    code, out, err = await webhooks(
        "register", "--account", "sandbox", "--url", ping_receiver.base_url, "--type", "offerUpdate", env=env
    )
    assert code == 1, out + err
    assert "0 of 1 webhooks enabled" in out
    assert "1 saved disabled" in out
    assert "ashby-sync serve" in out
    assert f"{ping_receiver.base_url}/webhooks/ashby/{account_id}" in out
    assert "ashby-sync webhooks register --account sandbox" in out


async def test_usage_errors_are_one_line(env) -> None:
    code, _, err = await webhooks("register", "--account", "x", "--url", "http://h", "--type", "nope", env=env)
    assert_one_line_error(code, err, 2, "nope")
    code, _, err = await webhooks("delete", env=env)
    assert_one_line_error(code, err, 2, "--account")
