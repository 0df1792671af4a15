"""Hostile input through the Python API ends in success or one ``VersionedError``, and an error
leaves the store exactly as it was."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_versioned.errors import VersionedError
from dagster_versioned.store import Store, Trigger
from dagster_versioned.store.names import normalize_path, parse_ref

from .fuzzing import NASTY, nasty_cron, nasty_path, nasty_size, nasty_text, snapshot

fuzz = settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store.open(f"memory://fuzz-{uuid.uuid4().hex}")
    s.create_repo("data")
    with s.commit("data@master") as c:
        c.put_file("/a.txt", b"alpha")
        c.put_file("/dir/b.txt", b"beta")
    s.create_branch("data@dev", head="data@master")
    return s


def only_versioned_errors(store: Store, action: Callable[[], Any]) -> bool:
    """Run ``action``: it succeeds, or raises a ``VersionedError`` and changes nothing."""
    before = snapshot(store)
    error: VersionedError | None = None
    try:
        action()
    except VersionedError as e:
        error = e
    if error is None:
        return True
    assert str(error), "an error must say what is wrong"
    assert snapshot(store) == before, f"the store changed although {error!r} was raised"
    return False


@fuzz
@given(text=nasty_text)
def test_parse_ref_accepts_or_raises_one_versioned_error(text):
    try:
        ref = parse_ref(text)
    except VersionedError:
        return
    assert parse_ref(str(ref)) == ref  # what it accepts, it prints back parseably


@fuzz
@given(path=nasty_path)
def test_a_normalised_path_never_escapes_and_normalises_to_itself(path):
    try:
        norm = normalize_path(path)
    except VersionedError:
        return
    assert norm.startswith("/")
    assert ".." not in norm.split("/")
    assert "\x00" not in norm
    assert normalize_path(norm) == norm


@fuzz
@given(name=nasty_text)
def test_create_repo_with_any_name(store, name):
    only_versioned_errors(store, lambda: store.create_repo(name))


@fuzz
@given(name=nasty_text, head=st.sampled_from([None, "data@master", "data@master^", "data@x^^"]))
def test_create_branch_with_any_name(store, name, head):
    only_versioned_errors(store, lambda: store.create_branch(f"data@{name}", head=head))
    only_versioned_errors(store, lambda: store.create_branch(name, head=head))


@fuzz
@given(path=nasty_path, data=st.binary(max_size=64))
def test_put_file_at_any_path_reads_back_or_fails_cleanly(store, path, data):
    if only_versioned_errors(store, lambda: store.put_file(f"data@fuzz:{path}", data)):
        assert store.get_file(f"data@fuzz:{path}") == data


@fuzz
@given(ref=nasty_text, path=nasty_path)
def test_reads_with_any_ref_or_path(store, ref, path):
    for target in (ref, f"data@{ref}", f"data@master:{path}", f"{ref}:{path}"):
        only_versioned_errors(store, lambda t=target: store.get_file(t))
        only_versioned_errors(store, lambda t=target: store.list_file(t))
        only_versioned_errors(store, lambda t=target: store.glob_file(t))
        only_versioned_errors(store, lambda t=target: store.inspect_commit(t))


@fuzz
@given(
    branch=st.sampled_from(["master", "dev"]) | nasty_text,
    size=st.none() | nasty_size,
    cron=st.none() | nasty_cron,
)
def test_trigger_with_any_size_and_cron(store, branch, size, cron):
    def make() -> None:
        trigger = Trigger(branch=branch, size=size, cron=cron)
        store.create_branch("data@triggered", trigger=trigger)

    only_versioned_errors(store, make)


@pytest.mark.parametrize(
    ("size", "expected"), [("1MB", 10**6), ("1.5 GB", 1_500_000_000), ("2k", 2000)]
)
def test_trigger_sizes_parse_as_pachyderm_does(size, expected):
    from dagster_versioned.store.triggers import parse_size

    assert parse_size(size) == expected


@pytest.mark.parametrize("size", ["1.2.3", "9" * 400, "1.2.3MB"])
def test_a_malformed_or_huge_trigger_size_is_an_invalid_trigger(size):
    from dagster_versioned.errors import InvalidTrigger

    with pytest.raises(InvalidTrigger):
        Trigger(branch="staging", size=size)


@pytest.mark.parametrize(
    "cron", ["@every 99999999999999999999h", "@every 2000000000h", "@every 1.5.5h"]
)
def test_a_malformed_or_huge_cron_interval_is_an_invalid_trigger(cron):
    from dagster_versioned.errors import InvalidTrigger

    with pytest.raises(InvalidTrigger):
        Trigger(branch="staging", cron=cron)


def test_unicode_normalisation_twins_name_one_file(store):
    nfc, nfd = unicodedata.normalize("NFC", "/café.txt"), unicodedata.normalize("NFD", "/café.txt")
    assert nfc != nfd
    store.put_file(f"data@twins:{nfd}", b"one")
    store.put_file(f"data@twins:{nfc}", b"two")
    assert [f.path for f in store.list_file("data@twins:/")] == [nfc]
    assert store.get_file(f"data@twins:{nfd}") == b"two"


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_every_known_nasty_string_as_a_name_ref_or_path_succeeds_or_fails_cleanly(store, text):
    """The derandomised profile draws only some of these: each one is also tried every run."""
    only_versioned_errors(store, lambda: store.create_repo(text))
    only_versioned_errors(store, lambda: store.create_branch(f"data@{text}"))
    only_versioned_errors(store, lambda: store.put_file(f"data@nasty:/{text}", b"x"))
    only_versioned_errors(store, lambda: store.get_file(f"data@master:/{text}"))
    only_versioned_errors(store, lambda: store.glob_file(f"data@master:/{text}"))
    only_versioned_errors(store, lambda: store.list_file(text))
    only_versioned_errors(store, lambda: Trigger(branch="master", size=text))
    only_versioned_errors(store, lambda: Trigger(branch="master", cron=text))
