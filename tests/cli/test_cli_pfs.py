"""Repo, branch and commit commands: pachctl's tables, detail views and ``--raw`` JSON."""

from __future__ import annotations

import json
import re

from .helpers import Dv, header, parse_table

ID_RE = re.compile(r"^[0-9a-f]{32}$")


def test_list_repo_shows_name_created_size_description(dv: Dv) -> None:
    dv.ok("create", "repo", "images", "-d", "raw pictures")
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "images@master:/a.bin", input=b"x" * 2048)
    out = dv.ok("list", "repo")
    assert header(out) == ["NAME", "CREATED", "SIZE", "DESCRIPTION"]
    rows = parse_table(out)
    assert [r["NAME"] for r in rows] == ["data", "images"]  # newest first
    assert rows[1] == {
        "NAME": "images",
        "CREATED": "Less than a second ago",
        "SIZE": "2KiB",
        "DESCRIPTION": "raw pictures",
    }
    assert rows[0]["SIZE"] == "0B"


def test_list_repo_raw_prints_one_protojson_repo_info_per_line(dv: Dv) -> None:
    dv.ok("create", "repo", "images", "-d", "pics")
    dv.ok("put", "file", "images@master:/a", input=b"abc")
    dv.ok("create", "repo", "empty")
    records = [json.loads(line) for line in dv.ok("list", "repo", "--raw").splitlines()]
    empty, images = records
    assert images["repo"] == {"name": "images", "type": "user"}
    assert images["description"] == "pics"
    assert images["details"] == {"size_bytes": "3"}  # int64 as a string
    assert images["branches"] == [{"repo": {"name": "images", "type": "user"}, "name": "master"}]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", images["created"])
    assert "description" not in empty  # zero values are omitted
    assert empty["details"] == {}


def test_inspect_repo_prints_pachctl_detail_lines(dv: Dv) -> None:
    dv.ok("create", "repo", "data", "--description", "the data")
    out = dv.ok("inspect", "repo", "data")
    assert out == (
        "Name: data\nDescription: the data\nCreated: Less than a second ago\n"
        "Size of HEAD on master: 0B\n"
    )
    assert json.loads(dv.ok("inspect", "repo", "data", "--raw"))["repo"]["name"] == "data"


def test_delete_repo_removes_it_and_all_removes_every_repo(dv: Dv) -> None:
    for name in ("a", "b", "c"):
        dv.ok("create", "repo", name)
    dv.ok("delete", "repo", "a")
    assert [r["NAME"] for r in parse_table(dv.ok("list", "repo"))] == ["c", "b"]
    dv.ok("delete", "repo", "--all", "-y")
    assert dv.ok("list", "repo") == "NAME CREATED SIZE DESCRIPTION\n"


def test_create_branch_makes_an_empty_auto_head_commit(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("create", "branch", "data@master")
    out = dv.ok("list", "commit", "data")
    assert header(out) == ["REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION"]
    (row,) = parse_table(out)
    assert row["REPO"] == "data"
    assert row["BRANCH"] == "master"
    assert ID_RE.match(row["COMMIT"])
    assert row["FINISHED"] == "Less than a second ago"
    assert row["SIZE"] == "0B"
    assert row["ORIGIN"] == "AUTO"
    assert row["DESCRIPTION"] == ""


def test_list_branch_shows_heads_and_trigger_text(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("create", "branch", "data@master")
    dv.ok("put", "file", "data@staging:/f", input=b"1")
    dv.ok(
        "create", "branch", "data@master", "--trigger", "staging",
        "--trigger-size", "1M", "--trigger-commits", "3",
    )  # fmt: skip
    out = dv.ok("list", "branch", "data")
    assert header(out) == ["BRANCH", "HEAD", "TRIGGER"]
    staging, master = parse_table(out)
    assert staging["BRANCH"] == "staging"
    assert staging["TRIGGER"] == "-"
    assert master["TRIGGER"] == "staging on Size(1M) or Commits(3)"
    assert ID_RE.match(master["HEAD"])
    assert master["HEAD"] != staging["HEAD"]


def test_trigger_all_joins_conditions_with_and(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok(
        "create", "branch", "data@master", "-t", "staging", "--trigger-size", "1MB",
        "--trigger-commits", "2", "--trigger-all",
    )  # fmt: skip
    (row,) = parse_table(dv.ok("list", "branch", "data"))
    assert row["TRIGGER"] == "staging on Size(1MB) and Commits(2)"


def test_branch_raw_has_head_commit_and_trigger_fields(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@staging:/f", input=b"1")
    dv.ok(
        "create", "branch", "data@master", "--head", "staging", "--trigger", "staging",
        "--trigger-size", "1MB", "--trigger-cron", "@every 1h", "--trigger-commits", "10",
        "--trigger-all",
    )  # fmt: skip
    record = json.loads(dv.ok("inspect", "branch", "data@master", "--raw"))
    staging_head = dv.store.inspect_branch("data@staging").head
    assert record["branch"] == {"repo": {"name": "data", "type": "user"}, "name": "master"}
    # the head is the commit, named with the branch it was made on (as Pachyderm 2.x)
    assert record["head"] == {
        "branch": {"repo": {"name": "data", "type": "user"}, "name": "staging"},
        "id": staging_head,
    }
    assert record["trigger"] == {
        "branch": "staging",
        "all": True,
        "size": "1MB",
        "commits": "10",
        "rate_limit_spec": "@every 1h",
    }
    lines = dv.ok("list", "branch", "data", "--raw").splitlines()
    assert [json.loads(line)["branch"]["name"] for line in lines] == ["master", "staging"]
    assert "trigger" not in json.loads(lines[1])


def test_inspect_branch_prints_name_head_and_trigger(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("create", "branch", "data@master", "--trigger", "staging", "--trigger-size", "1MB")
    head = dv.store.inspect_branch("data@master").head
    assert dv.ok("inspect", "branch", "data@master") == (
        f"Name: data@master\nHead Commit: data@{head}\nTrigger: staging on Size(1MB)\n"
    )


def test_create_branch_head_accepts_branch_ancestry_id_and_qualified_refs(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    for i in range(3):
        dv.ok("put", "file", f"data@staging:/f{i}", input=b"x")
    history = dv.store.list_commit("data@staging")
    dv.ok("create", "branch", "data@master", "--head", "staging^2")
    assert dv.store.inspect_branch("data@master").head == history[2].id
    dv.ok("create", "branch", "data@master", "--head", history[1].id)
    assert dv.store.inspect_branch("data@master").head == history[1].id
    dv.ok("create", "branch", "data@master", "--head", "data@staging")
    assert dv.store.inspect_branch("data@master").head == history[0].id
    dv.ok("create", "branch", "data@master", "--head", f"data@staging={history[2].id}")
    assert dv.store.inspect_branch("data@master").head == history[2].id


def test_delete_branch_removes_it_and_its_trigger(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("create", "branch", "data@master", "--trigger", "staging", "--trigger-size", "1MB")
    dv.ok("delete", "branch", "data@master")
    assert dv.ok("list", "branch", "data") == "BRANCH HEAD TRIGGER\n"
    dv.ok("create", "branch", "data@master")
    assert parse_table(dv.ok("list", "branch", "data"))[0]["TRIGGER"] == "-"


def test_start_commit_prints_the_id_and_list_commit_shows_it_open(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/a", input=b"aaa")
    commit_id = dv.ok("start", "commit", "data@master", "-m", "work in progress").strip()
    assert ID_RE.match(commit_id)
    rows = parse_table(dv.ok("list", "commit", "data@master"))
    assert rows[0]["COMMIT"] == commit_id
    assert rows[0]["FINISHED"] == "-"
    assert rows[0]["SIZE"] == "-"
    assert rows[0]["ORIGIN"] == "USER"
    assert rows[0]["DESCRIPTION"] == "work in progress"
    record = json.loads(dv.ok("inspect", "commit", f"data@{commit_id}", "--raw"))
    assert "finished" not in record
    assert "details" not in record
    dv.ok("put", "file", "data@master:/b", input=b"bb")
    dv.ok("finish", "commit", f"data@{commit_id}")
    rows = parse_table(dv.ok("list", "commit", "data@master"))
    assert rows[0]["COMMIT"] == commit_id
    assert rows[0]["SIZE"] == "5B"
    assert rows[0]["FINISHED"] == "Less than a second ago"


def test_finish_commit_by_branch_sets_the_description(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    commit_id = dv.ok("start", "commit", "data@master").strip()
    dv.ok("finish", "commit", "data@master", "--description", "done")
    assert dv.store.inspect_commit(f"data@{commit_id}").description == "done"


def test_commit_raw_follows_pachyderm_commit_info(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/a", input=b"a" * 123)
    dv.ok("put", "file", "data@master:/b", input=b"b")
    head, parent = dv.store.list_commit("data@master")
    record = json.loads(dv.ok("inspect", "commit", "data@master", "--raw"))
    assert list(record) == ["commit", "origin", "parent_commit", "started", "finished", "details"]
    assert record["commit"] == {
        "branch": {"repo": {"name": "data", "type": "user"}, "name": "master"},
        "id": head.id,
    }
    assert record["origin"] == {"kind": "USER"}
    assert record["parent_commit"]["id"] == parent.id
    assert record["details"] == {"size_bytes": "124"}
    lines = dv.ok("list", "commit", "data@master", "--raw").splitlines()
    assert [json.loads(line)["commit"]["id"] for line in lines] == [head.id, parent.id]


def test_commit_raw_lists_direct_provenance_as_commits(dv: Dv) -> None:
    from dagster_versioned.store import CommitRef

    dv.ok("create", "repo", "images")
    dv.ok("create", "repo", "edges")
    dv.ok("put", "file", "images@master:/a", input=b"a")
    source = dv.store.inspect_commit("images@master")
    with dv.store.commit(
        "edges@master",
        provenance=(CommitRef(repo="images", branch="master", id=source.id),),
        commit_id=source.id,
    ) as c:
        c.put_file("/a", b"edge")
    record = json.loads(dv.ok("inspect", "commit", "edges@master", "--raw"))
    assert record["direct_provenance"] == [
        {"branch": {"repo": {"name": "images", "type": "user"}, "name": "master"}, "id": source.id}
    ]
    assert f"Provenance: images@{source.id}" in dv.ok("inspect", "commit", "edges@master")


def test_inspect_commit_prints_pachctl_detail_lines(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/a", input=b"a")
    dv.ok("start", "commit", "data@master", "-m", "second")
    dv.ok("finish", "commit", "data@master")
    head, parent = dv.store.list_commit("data@master")
    assert dv.ok("inspect", "commit", "data@master") == (
        f"Commit: data@{head.id}\nOriginal Branch: master\nDescription: second\n"
        f"Parent: {parent.id}\nStarted: Less than a second ago\n"
        "Finished: Less than a second ago\nSize: 1B\n"
    )


def test_list_commit_of_a_repo_limits_with_number(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    for i in range(5):
        dv.ok("put", "file", f"data@master:/{i}", input=b"x")
    assert len(parse_table(dv.ok("list", "commit", "data"))) == 5
    assert len(parse_table(dv.ok("list", "commit", "data@master", "-n", "2"))) == 2
    assert len(parse_table(dv.ok("list", "commit", "data@master^1"))) == 4


def test_list_commit_without_argument_lists_global_commit_sets(dv: Dv) -> None:
    dv.ok("create", "repo", "images")
    dv.ok("create", "repo", "edges")
    dv.ok("put", "file", "images@master:/a", input=b"a")
    source = dv.store.inspect_commit("images@master")
    with dv.store.commit("edges@master", commit_id=source.id) as c:
        c.put_file("/a", b"edge")
    out = dv.ok("list", "commit")
    assert header(out) == ["ID", "SUBCOMMITS", "PROGRESS", "CREATED", "MODIFIED"]
    rows = parse_table(out)
    assert rows[0]["ID"] == source.id
    assert rows[0]["SUBCOMMITS"] == "2"
    assert rows[0]["PROGRESS"] == "\u2587" * 8
    assert rows[0]["CREATED"] == "Less than a second ago"
    assert len(parse_table(dv.ok("list", "commit", "-n", "1"))) == 1
    sets = [json.loads(line) for line in dv.ok("list", "commit", "--raw").splitlines()]
    assert sets[0]["commit_set"] == {"id": source.id}
    assert sorted(c["commit"]["branch"]["repo"]["name"] for c in sets[0]["commits"]) == [
        "edges",
        "images",
    ]


def test_list_commit_with_a_global_id_lists_its_commits_across_repos(dv: Dv) -> None:
    dv.ok("create", "repo", "images")
    dv.ok("create", "repo", "edges")
    dv.ok("put", "file", "images@master:/a", input=b"a")
    source = dv.store.inspect_commit("images@master")
    with dv.store.commit("edges@master", commit_id=source.id) as c:
        c.put_file("/a", b"edge")
    rows = parse_table(dv.ok("list", "commit", source.id))
    assert sorted((r["REPO"], r["COMMIT"]) for r in rows) == [
        ("edges", source.id),
        ("images", source.id),
    ]


def test_wait_commit_returns_a_finished_commit(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/a", input=b"a")
    out = dv.ok("wait", "commit", "data@master")
    assert out.startswith("Commit: data@")
    assert json.loads(dv.ok("wait", "commit", "data@master", "--raw"))["details"] == {
        "size_bytes": "1"
    }


def test_wait_commit_on_an_open_commit_times_out_with_an_error(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    commit_id = dv.ok("start", "commit", "data@master").strip()
    message = dv.error("wait", "commit", f"data@{commit_id}", "--timeout", "0.1")
    assert "did not finish" in message


def test_delete_commit_abandons_an_open_commit(dv: Dv) -> None:
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/a", input=b"a")
    before = dv.store.inspect_branch("data@master").head
    commit_id = dv.ok("start", "commit", "data@master").strip()
    dv.ok("put", "file", "data@master:/b", input=b"b")
    dv.ok("delete", "commit", f"data@{commit_id}")
    assert dv.store.inspect_branch("data@master").head == before
    assert [r["NAME"] for r in parse_table(dv.ok("list", "file", "data@master"))] == ["/a"]
    assert "no open commit" in dv.error("finish", "commit", "data@master")
