"""default_storage_url: the one rule dvctl, dv:// and the Dagster glue share."""

from pathlib import Path

import pytest

from dagster_versioned.store.location import STORAGE_ENV, default_storage_url


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    (tmp_path / ".dagster_versioned").mkdir()
    monkeypatch.setenv(STORAGE_ENV, "s3://bucket/prefix")

    assert default_storage_url(tmp_path) == "s3://bucket/prefix"


def test_the_nearest_store_directory_in_a_parent_is_found(tmp_path):
    (tmp_path / ".dagster_versioned").mkdir()
    (tmp_path / "a" / ".dagster_versioned").mkdir(parents=True)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)

    assert default_storage_url(deep) == str((tmp_path / "a" / ".dagster_versioned").resolve())


def test_without_any_store_it_is_a_new_one_in_the_working_directory(tmp_path, monkeypatch):
    if any((p / ".dagster_versioned").is_dir() for p in tmp_path.resolve().parents):
        pytest.skip("a parent of the temporary directory holds a store")
    monkeypatch.chdir(tmp_path)

    assert default_storage_url() == str(Path(tmp_path).resolve() / ".dagster_versioned")
    assert not (tmp_path / ".dagster_versioned").exists()


def test_an_empty_environment_variable_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(STORAGE_ENV, "  ")

    assert default_storage_url(tmp_path) == str(tmp_path.resolve() / ".dagster_versioned")
