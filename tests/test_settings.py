"""Settings from the environment (STATUSGRAPH_ prefix) and the generated pepper."""

import stat

import pytest
from pydantic import ValidationError

from statusgraph.config import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("STATUSGRAPH_"):
            monkeypatch.delenv(name)


def test_defaults_point_at_the_data_dir():
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///data/statusgraph.db"
    assert settings.rate_limit_storage == "async+memory://"
    assert settings.graphiql is True
    assert settings.trusted_proxies == ["127.0.0.1"]
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+asyncpg://u@h:5433/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_get_the_async_driver(monkeypatch, given, expected):
    monkeypatch.setenv("STATUSGRAPH_DATABASE_URL", given)
    assert Settings().database_url == expected


def test_statusgraph_variables_in_the_environment_override_the_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("STATUSGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STATUSGRAPH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    monkeypatch.setenv("STATUSGRAPH_GRAPHIQL", "false")
    monkeypatch.setenv("STATUSGRAPH_RATE_LIMIT_STORAGE", "redis://localhost:6379/0")
    settings = Settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/statusgraph.db"
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    assert settings.graphiql is False
    assert settings.rate_limit_storage == "async+redis://localhost:6379/0"


def test_a_bad_proxy_entry_is_refused(monkeypatch):
    monkeypatch.setenv("STATUSGRAPH_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip")
    with pytest.raises(ValidationError):
        Settings()


def test_the_pepper_is_generated_once_with_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first = settings.pepper()
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 48
    assert Settings(data_dir=tmp_path / "data").pepper() == first


def test_an_explicit_secret_key_is_used_and_no_pepper_file_is_written(monkeypatch, tmp_path):
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY", "from-env")
    assert Settings(data_dir=tmp_path).pepper() == b"from-env"
    assert not (tmp_path / "secret.key").exists()


def test_a_secret_file_is_read(monkeypatch, tmp_path):
    (tmp_path / "pepper").write_text("from-file\n")
    monkeypatch.setenv("STATUSGRAPH_SECRET_KEY_FILE", str(tmp_path / "pepper"))
    assert Settings(data_dir=tmp_path).pepper() == b"from-file"
