"""One PostgreSQL server for the whole test session (tests/history/postgres_server.py); each test
that asks for `postgres_url` gets a database of its own on it."""
from __future__ import annotations

import pytest

from tests.history.postgres_server import PostgresServer, start_server


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a new, empty database on the session's server (password in it)."""
    return postgres_server.url(postgres_server.create_database())
