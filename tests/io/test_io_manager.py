"""VersionedIOManager in real Dagster runs: each output a commit, each input one exact commit."""

import io
import threading
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dagster_versioned import (
    GLOBAL_ID_TAG,
    INPUT_COMMIT_TAG,
    VersionedIOManager,
    VersionedStoreResource,
)
from dagster_versioned.io import formats
from dagster_versioned.io.tags import COMMIT_TAG_PREFIX, PIN_TAG_PREFIX
from dagster_versioned.store.location import STORAGE_ENV


def io_manager(dv, **kwargs) -> VersionedIOManager:
    return VersionedIOManager(storage=dv.url, storage_options=dv.options, **kwargs)


def run(assets, dv, instance=None, **kwargs) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets, resources={"io_manager": io_manager(dv)}, instance=instance, **kwargs
    )
    assert result.success
    return result


def failure_message(result) -> str:
    """The message of the exception that failed the run's first failed step (not the wrapper)."""
    error = result.get_step_failure_events()[0].step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message


def materialization_metadata(result, key: str) -> dict:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    ]
    assert len(events) == 1
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


@dg.asset
def sales() -> pd.DataFrame:
    return pd.DataFrame({"region": ["north", "south"], "amount": [10.5, 20.25]})


@dg.asset
def total(sales: pd.DataFrame) -> float:
    return float(sales["amount"].sum())


def test_dataframe_output_is_a_parquet_commit_in_the_repo_named_after_the_asset(dv):
    result = run([sales, total], dv)

    commit = dv.store.inspect_commit("sales@master")
    frame = pd.read_parquet(io.BytesIO(dv.store.get_file("sales@master:/data.parquet")))
    assert frame.equals(sales())
    assert result.output_for_node("total") == 30.75
    assert dv.store.get_file("total@master:/data.json") == b"30.75"
    assert materialization_metadata(result, "sales")["commit"] == commit.id


def test_every_output_of_a_run_is_committed_under_the_runs_global_id(local_dv, instance):
    result = run([sales, total], local_dv, instance=instance)

    global_id = instance.get_run_by_id(result.run_id).tags[GLOBAL_ID_TAG]
    assert global_id == result.run_id.replace("-", "")
    assert local_dv.store.inspect_commit("sales@master").id == global_id
    assert local_dv.store.inspect_commit("total@master").id == global_id
    assert {c.repo for c in local_dv.store.list_commit_set(global_id)} == {"sales", "total"}


def test_a_run_tagged_with_a_global_id_commits_under_that_id(local_dv):
    global_id = "0123456789abcdef0123456789abcdef"

    run([sales], local_dv, tags={GLOBAL_ID_TAG: global_id})

    assert local_dv.store.inspect_commit("sales@master").id == global_id


def test_a_run_tagged_with_a_malformed_global_id_fails_naming_the_tag(local_dv):
    result = dg.materialize(
        [sales], resources={"io_manager": io_manager(local_dv)},
        tags={GLOBAL_ID_TAG: "not-an-id"}, raise_on_error=False,
    )  # fmt: skip

    assert not result.success
    assert "not-an-id" in failure_message(result)


class Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x


@pytest.mark.parametrize(
    ("value", "filename"),
    [
        (b"\x00raw bytes", "data.bin"),
        ("some text é", "data.txt"),
        ({"a": [1, 2.5, None, True], "b": {"c": "d"}}, "data.json"),
        ([1, 2, 3], "data.json"),
        ((1, 2), "data.pkl"),  # a tuple would come back from JSON as a list
        ({1: "int keys"}, "data.pkl"),  # int keys would come back from JSON as str
        (Point(3), "data.pkl"),
    ],
)
def test_values_are_stored_by_type_and_load_back_equal(local_dv, value, filename):
    @dg.asset
    def thing():
        return value

    @dg.asset
    def copy(thing):
        return thing

    result = run([thing, copy], local_dv)

    assert [f.path for f in local_dv.store.list_file("thing@master:/")] == [f"/{filename}"]
    assert result.output_for_node("copy") == value
    assert type(result.output_for_node("copy")) is type(value)


def test_format_metadata_overrides_the_choice_by_type(local_dv):
    @dg.asset(metadata={"dv/format": "pickle"})
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    run([frame], local_dv)

    assert [f.path for f in local_dv.store.list_file("frame@master:/")] == ["/data.pkl"]


def test_an_unknown_format_in_metadata_fails_listing_the_valid_ones(local_dv):
    @dg.asset(metadata={"dv/format": "xml"})
    def frame() -> dict:
        return {}

    result = dg.materialize(
        [frame], resources={"io_manager": io_manager(local_dv)}, raise_on_error=False
    )

    message = failure_message(result)
    assert "'xml'" in message
    assert "parquet" in message


def test_a_returned_directory_is_committed_as_a_tree_and_loads_as_a_local_copy(local_dv, tmp_path):
    source = tmp_path / "out"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("A")
    (source / "sub" / "b.txt").write_text("B")

    @dg.asset
    def tree() -> Path:
        return source

    @dg.asset
    def names(tree: Path) -> list:
        return sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())

    result = run([tree, names], local_dv)

    assert local_dv.store.get_file("tree@master:/data/sub/b.txt") == b"B"
    assert result.output_for_node("names") == ["a.txt", "sub/b.txt"]


def test_none_output_commits_nothing(local_dv):
    @dg.asset
    def nothing():
        return None

    run([nothing], local_dv)

    with pytest.raises(FileNotFoundError):
        local_dv.store.inspect_repo("nothing")


def test_a_multi_part_asset_key_names_the_repo_joined_with_dashes(local_dv):
    @dg.asset(key_prefix=["raw"])
    def events() -> list:
        return [1]

    run([events], local_dv)

    assert local_dv.store.get_file("raw-events@master:/data.json") == b"[1]"


def test_repo_and_branch_can_be_set_in_asset_metadata(local_dv):
    @dg.asset(metadata={"dv/repo": "custom-repo", "dv/branch": "staging"})
    def named() -> str:
        return "x"

    run([named], local_dv)

    assert local_dv.store.get_file("custom-repo@staging:/data.txt") == b"x"


def materialize_versions(dv, values: list[int]) -> list[str]:
    """Materialise asset ``counter`` once per value; returns the commit ids, oldest first."""
    ids = []
    for value in values:

        @dg.asset(name="counter")
        def counter() -> int:
            return value  # noqa: B023 - each asset is materialised inside its own iteration

        run([counter], dv)
        ids.append(dv.store.inspect_commit("counter@master").id)
    return ids


def reader(metadata: dict | None = None) -> dg.AssetsDefinition:
    @dg.asset(ins={"counter": dg.AssetIn(metadata=metadata or {})})
    def seen(counter: int) -> int:
        return counter

    return seen


def counter_source() -> dg.AssetSpec:
    return dg.AssetSpec("counter")


def test_inputs_read_old_versions_pinned_by_ancestry_or_commit_id(dv):
    ids = materialize_versions(dv, [1, 2, 3])

    by_ancestry = run([counter_source(), reader({"dv/ref": "master^2"})], dv)
    by_full_ref = run([counter_source(), reader({"dv/ref": "counter@master^1"})], dv)
    by_id = run([counter_source(), reader({"dv/ref": ids[1]})], dv)
    head = run([counter_source(), reader()], dv)

    assert by_ancestry.output_for_node("seen") == 1
    assert by_full_ref.output_for_node("seen") == 2
    assert by_id.output_for_node("seen") == 2
    assert head.output_for_node("seen") == 3


def test_a_materialisation_records_the_exact_commit_each_pinned_input_read(dv):
    """``master^2`` names another commit tomorrow: the output says which one it was."""
    ids = materialize_versions(dv, [1, 2, 3])

    by_ancestry = run([counter_source(), reader({"dv/ref": "master^2"})], dv)
    head = run([counter_source(), reader()], dv)

    pinned = materialization_metadata(by_ancestry, "seen")["input_commits"]
    assert pinned == {"counter": {"commit": f"counter@{ids[0]}", "ref": "counter@master^2"}}
    latest = materialization_metadata(head, "seen")["input_commits"]
    assert latest == {"counter": {"commit": f"counter@{ids[2]}", "ref": "counter@master"}}


def test_pins_in_run_config_choose_the_commit_to_read(local_dv):
    materialize_versions(local_dv, [1, 2])
    # Dagster replaces a resource's whole config with the run config, so storage is repeated.
    config = {"storage": local_dv.url, "pins": {"counter": "master^1"}}

    result = dg.materialize(
        [counter_source(), reader()],
        resources={"io_manager": io_manager(local_dv)},
        run_config={"resources": {"io_manager": {"config": config}}},
    )

    assert result.output_for_node("seen") == 1


def test_a_pin_run_tag_chooses_the_commit_to_read(local_dv):
    ids = materialize_versions(local_dv, [1, 2])

    result = run([counter_source(), reader()], local_dv, tags={f"{PIN_TAG_PREFIX}counter": ids[0]})

    assert result.output_for_node("seen") == 1


def test_a_pin_naming_another_repo_is_refused(local_dv):
    materialize_versions(local_dv, [1])

    result = dg.materialize(
        [counter_source(), reader({"dv/ref": "other@master"})],
        resources={"io_manager": io_manager(local_dv)},
        raise_on_error=False,
    )

    message = failure_message(result)
    assert "'other'" in message


def test_output_metadata_shows_commit_parent_size_url_and_diff(dv):
    first, _ = materialize_versions(dv, [1, 22])[0], None

    @dg.asset(name="counter")
    def counter() -> int:
        return 333

    meta = materialization_metadata(run([counter], dv), "counter")

    commit = dv.store.inspect_commit("counter@master")
    assert meta["repo"] == "counter"
    assert meta["branch"] == "master"
    assert meta["commit"] == commit.id
    assert meta["parent"] == commit.parent != first
    assert meta["size"] == 3
    assert meta["url"] == f"dv://counter@{commit.id}/data.json"
    assert (meta["files_added"], meta["files_changed"], meta["files_removed"]) == (0, 1, 0)
    assert meta["bytes_delta"] == 1
    assert "1 changed" in meta["diff"]


daily = dg.StaticPartitionsDefinition(["a", "b", "c", "d"])


@dg.asset(partitions_def=daily)
def parts(context: dg.AssetExecutionContext) -> str:
    return f"value of {context.partition_key}"


@dg.asset
def all_parts(parts: dict) -> dict:
    return parts


def test_each_partition_is_its_own_path_and_an_unpartitioned_reader_gets_a_dict(dv):
    for key in ("a", "b", "c", "d"):
        run([parts], dv, partition_key=key)

    result = run([dg.AssetSpec("parts", partitions_def=daily), all_parts], dv)

    assert dv.store.get_file("parts@master:/b/data.txt") == b"value of b"
    assert result.output_for_node("all_parts") == {k: f"value of {k}" for k in "abcd"}


def test_missing_partitions_are_skipped_when_the_input_allows_it(local_dv):
    run([parts], local_dv, partition_key="a")

    @dg.asset(ins={"parts": dg.AssetIn(metadata={"allow_missing_partitions": True})})
    def some_parts(parts: dict) -> dict:
        return parts

    result = run([dg.AssetSpec("parts", partitions_def=daily), some_parts], local_dv)

    assert result.output_for_node("some_parts") == {"a": "value of a"}


def test_multi_partition_keys_are_one_directory_level_per_dimension(local_dv):
    grid = dg.MultiPartitionsDefinition(
        {
            "lr": dg.StaticPartitionsDefinition(["0.1"]),
            "depth": dg.StaticPartitionsDefinition(["3"]),
        }
    )

    @dg.asset(partitions_def=grid)
    def model() -> str:
        return "m"

    run([model], local_dv, partition_key=dg.MultiPartitionKey({"lr": "0.1", "depth": "3"}))

    assert local_dv.store.get_file("model@master:/3/0.1/data.txt") == b"m"


def test_concurrent_runs_writing_different_partitions_all_land(dv):
    keys = ["a", "b", "c", "d"]
    barrier = threading.Barrier(len(keys))
    errors: list[BaseException] = []

    @dg.asset(partitions_def=daily, name="parts")
    def slow_parts(context: dg.AssetExecutionContext) -> str:
        barrier.wait(timeout=60)  # every run reaches its commit at the same moment
        return f"value of {context.partition_key}"

    def one(key: str) -> None:
        try:
            dg.materialize(
                [slow_parts], partition_key=key, resources={"io_manager": io_manager(dv)}
            )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    commits = dv.store.list_commit("parts@master")
    assert len(commits) == len(keys)
    assert len({c.id for c in commits}) == len(keys)  # one global id per run
    for key in keys:
        assert dv.store.get_file(f"parts@master:/{key}/data.txt") == f"value of {key}".encode()


def test_a_run_reads_its_input_commit_tag_even_after_the_head_moved(local_dv):
    store = local_dv.store
    store.create_repo("images")
    pinned = store.put_file("images@master:/a.txt", b"first")
    store.put_file("images@master:/b.txt", b"second")

    @dg.asset
    def listing(images: Path) -> list:
        return sorted(p.name for p in images.iterdir())

    result = run(
        [dg.AssetSpec("images"), listing], local_dv,
        tags={GLOBAL_ID_TAG: pinned.id, INPUT_COMMIT_TAG: f"images@{pinned.id}"},
    )  # fmt: skip

    assert result.output_for_node("listing") == ["a.txt"]
    output = store.inspect_commit("listing@master")
    assert output.id == pinned.id
    assert [str(p) for p in output.provenance] == [f"images@{pinned.id}"]


def test_a_rerun_with_the_same_global_id_commits_a_new_id_that_downstream_reads(local_dv, instance):
    global_id = "abcdefabcdefabcdefabcdefabcdef01"
    run([sales], local_dv, instance=instance, tags={GLOBAL_ID_TAG: global_id})

    @dg.asset(name="sales")
    def new_sales() -> pd.DataFrame:
        return pd.DataFrame({"region": ["west"], "amount": [1.0]})

    result = run([new_sales, total], local_dv, instance=instance, tags={GLOBAL_ID_TAG: global_id})

    rewritten = local_dv.store.inspect_commit("sales@master").id
    assert rewritten != global_id
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[f"{COMMIT_TAG_PREFIX}sales"] == rewritten
    assert result.output_for_node("total") == 1.0


def test_op_outputs_of_a_plain_job_are_stored_per_run(local_dv):
    @dg.op
    def make() -> dict:
        return {"k": 1}

    @dg.op
    def use(value: dict) -> int:
        return value["k"] + 1

    @dg.job(resource_defs={"io_manager": io_manager(local_dv)})
    def plain():
        use(make())

    result = plain.execute_in_process()

    assert result.output_for_node("use") == 2
    files = [f.path for f in local_dv.store.walk_file("plain@master:/") if f.type == "file"]
    assert f"/{result.run_id}/make/result/data.json" in files


def test_a_dataframe_parquet_cannot_store_falls_back_to_pickle(local_dv):
    @dg.asset
    def mixed() -> pd.DataFrame:
        return pd.DataFrame({"m": [1, "a", 2.5]})

    @dg.asset
    def again(mixed: pd.DataFrame) -> pd.DataFrame:
        return mixed

    result = run([mixed, again], local_dv)

    assert [f.path for f in local_dv.store.list_file("mixed@master:/")] == ["/data.pkl"]
    assert result.output_for_node("again")["m"].tolist() == [1, "a", 2.5]


def test_a_parquet_file_larger_than_its_preallocated_buffer_is_still_written(local_dv, monkeypatch):
    # The buffer is sized from the table's in-memory size; without the slack, a small frame's
    # parquet (schema and footer included) never fits, so the growing-stream path must take over.
    monkeypatch.setattr(formats, "_PARQUET_SLACK", 0)

    run([sales, total], local_dv)

    data = local_dv.store.get_file("sales@master:/data.parquet")
    assert pd.read_parquet(io.BytesIO(data)).equals(sales())
    assert local_dv.store.get_file("total@master:/data.json") == b"30.75"


def test_the_store_resource_opens_the_configured_store_once(local_dv):
    local_dv.store.create_repo("notes")

    @dg.asset
    def note(dv: VersionedStoreResource) -> None:
        assert dv.store is dv.store
        dv.store.put_file("notes@master:/n.txt", b"written by an asset")

    dg.materialize([note], resources={"dv": VersionedStoreResource(storage=local_dv.url)})

    assert local_dv.store.get_file("notes@master:/n.txt") == b"written by an asset"


def test_the_store_resource_defaults_to_the_dvctl_storage(tmp_path, monkeypatch):
    monkeypatch.setenv(STORAGE_ENV, str(tmp_path / "env-store"))

    resource = VersionedStoreResource()

    assert resource.url == str(tmp_path / "env-store")
    assert resource.store.list_repo() == []


def test_a_returned_file_path_is_committed_inside_the_data_tree(local_dv, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")

    @dg.asset
    def model() -> Path:
        return tmp_path / "model.bin"

    @dg.asset
    def model_files(model: Path) -> list:
        return [p.name for p in model.iterdir()]

    result = run([model, model_files], local_dv)

    assert local_dv.store.get_file("model@master:/data/model.bin") == b"weights"
    assert result.output_for_node("model_files") == ["model.bin"]
