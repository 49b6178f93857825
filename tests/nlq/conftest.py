"""One loaded evaluation database per backend for the whole nlq test session (the dataset is read-only)."""

from __future__ import annotations

import pytest

from storage.db import make_engine, make_session_factory
from storage.schema import create_all
from tests.conftest import BACKENDS, _fresh_pg_url
from tests.nlq.dataset import generate, insert_dataset
from tests.nlq.dataset_domains import generate_domains, insert_domains


@pytest.fixture(scope="session")
def dataset():
    return generate()


@pytest.fixture(scope="session")
def domains(dataset):
    return generate_domains(dataset)


@pytest.fixture(scope="session", params=BACKENDS)
def eval_factory(request, dataset, domains, tmp_path_factory):
    """A session factory over a database holding the evaluation dataset (never written by the tests)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('nlq')}/eval.db"
    else:
        url = _fresh_pg_url(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        insert_dataset(s, dataset)
        insert_domains(s, domains)  # targets, leads, hand-offs: tables the v1/v2 sets do not read
    yield factory
    engine.dispose()
