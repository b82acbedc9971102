import pytest
from pydantic import SecretStr

from core.errors import ConfigError
from store import accounts
from store.errors import AccountExistsError, AccountNotFoundError, SecretKeyError
from store.secrets import SecretBox, generate_key

KEY = SecretStr(generate_key())


async def test_account_secrets_are_encrypted_at_rest_and_read_back(db) -> None:
    box = SecretBox(KEY)
    async with db.acquire() as conn:
        account = await accounts.add_account(
            conn,
            box,
            name="acme",
            api_key=SecretStr("key-123-plain"),
            base_url="http://ashby.example/",
            webhook_secret=SecretStr("whsec-plain"),
        )
        raw = await conn.fetchrow("select api_key_enc, webhook_secret_enc from accounts where id = $1", account.id)
        creds = await accounts.get_credentials(conn, box, account.id)
    assert b"key-123-plain" not in raw["api_key_enc"]
    assert b"whsec-plain" not in raw["webhook_secret_enc"]
    assert creds.api_key.get_secret_value() == "key-123-plain"
    assert [s.get_secret_value() for s in creds.webhook_secrets] == ["whsec-plain"]
    assert account.base_url == "http://ashby.example"
    assert account.has_webhook_secret


async def test_accounts_are_found_by_name_or_id_and_names_are_unique(db) -> None:
    box = SecretBox(KEY)
    async with db.acquire() as conn:
        added = await accounts.add_account(conn, box, name="acme", api_key=SecretStr("k"), base_url="http://x")
        assert await accounts.get_account(conn, "acme") == added
        assert await accounts.get_account(conn, str(added.id)) == added
        assert await accounts.list_accounts(conn) == [added]
        with pytest.raises(AccountExistsError):
            await accounts.add_account(conn, box, name="acme", api_key=SecretStr("k2"), base_url="http://x")
        with pytest.raises(AccountNotFoundError):
            await accounts.get_account(conn, "nobody")


async def test_a_different_key_cannot_read_stored_secrets(db) -> None:
    async with db.acquire() as conn:
        account = await accounts.add_account(
            conn, SecretBox(KEY), name="acme", api_key=SecretStr("k"), base_url="http://x"
        )
        with pytest.raises(SecretKeyError):
            await accounts.get_credentials(conn, SecretBox(SecretStr(generate_key())), account.id)


async def test_rotated_keys_still_decrypt_and_the_previous_webhook_secret_stays_valid(db) -> None:
    old = SecretBox(KEY)
    async with db.acquire() as conn:
        account = await accounts.add_account(
            conn, old, name="acme", api_key=SecretStr("k"), base_url="http://x", webhook_secret=SecretStr("s1")
        )
        rotated = SecretBox(SecretStr(f"{generate_key()},{KEY.get_secret_value()}"))
        await accounts.set_webhook_secret(conn, rotated, account.id, SecretStr("s2"))
        creds = await accounts.get_credentials(conn, rotated, account.id)
    assert [s.get_secret_value() for s in creds.webhook_secrets] == ["s2", "s1"]


def test_a_malformed_secret_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SecretBox(SecretStr("not-a-fernet-key"))
    with pytest.raises(ConfigError):
        SecretBox(SecretStr(" , "))
