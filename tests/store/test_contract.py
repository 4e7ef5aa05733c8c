"""The shipped store contract, run against SQLite and PostgreSQL (see conftest.py)."""

from runyard.testing.store_contract import StoreContract


class TestSqlStore(StoreContract):
    pass
