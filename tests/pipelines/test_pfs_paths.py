"""A ``transform.cmd`` sees ``/pfs`` as Pachyderm's worker lays it out.

With a mount namespace (``bwrap`` or ``unshare``) ``/pfs`` is a real directory for the command
and everything it runs, so scripts hard-coding ``/pfs/images`` work; with ``rewrite`` only the
``/pfs`` words of ``cmd`` and ``stdin`` are pointed at the datum's folder, and a script that
hard-codes ``/pfs`` fails the job instead of letting it succeed empty.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed
from dagster_versioned.pps import sandbox
from dagster_versioned.pps.inputs import group, join, pfs
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store

NAMESPACES = [m for m in ("unshare", "bwrap") if sandbox._tool_works(m)]
MODES = [*NAMESPACES, "rewrite"]


def test_ci_offers_both_namespace_tools():
    """CI installs bubblewrap and allows ``unshare -Urm``: every mode above is tested there."""
    absent = [tool for tool in ("unshare", "bwrap") if tool not in NAMESPACES]
    if absent:
        reason = f"{', '.join(absent)} cannot make a mount namespace (apt-get install bubblewrap)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("images")
    s.put_file("images@master:/a.txt", b"hello")
    return s


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(sandbox.ENV_VAR, request.param)
    return str(request.param)


def head(store: Store, ref: str = "images@master") -> str:
    return store.inspect_commit(ref).id


def sh(name: str, line: str, **kw: object) -> PipelineSpec:
    return PipelineSpec(name=name, input=pfs("images"), cmd=("sh",), stdin=(line,), **kw)  # type: ignore[arg-type]


def test_the_mode_in_force_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.ENV_VAR, "rewrite")
    assert sandbox.pfs_mode() == "rewrite"
    monkeypatch.setenv(sandbox.ENV_VAR, "auto")
    assert sandbox.pfs_mode() == (NAMESPACES[0] if NAMESPACES else "rewrite")
    monkeypatch.setenv(sandbox.ENV_VAR, "chroot")
    with pytest.raises(sandbox.PfsModeUnavailable, match="namespace, bwrap, unshare, rewrite"):
        sandbox.pfs_mode()


@pytest.mark.parametrize(
    "text",
    ["find /pfs -type f", "ls /pfs;", "$(ls /pfs)", "'/pfs'", "/pfs", "(cd /pfs)"],
)
def test_rewriting_finds_pfs_as_a_path_word_wherever_it_ends(text: str) -> None:
    assert "/pfs" not in sandbox.rewrite(text, Path("/scratch/d1/pfs")).replace("/d1/pfs", "")


def test_rewriting_leaves_other_paths_alone() -> None:
    for text in ("/pfsx", "/data/pfs/out", "./pfs", "/pfs-old"):
        assert sandbox.rewrite(text, Path("/s")) == text


def test_find_over_pfs_lists_the_inputs(store: Store, mode: str) -> None:
    spec = sh("found", "find /pfs -type f | sort > /tmp/.x$$; mv /tmp/.x$$ /pfs/out/found")
    run_job(store, spec, head(store))
    assert store.get_file("found@master:/found").decode().strip().endswith("/images/a.txt")


def test_ls_of_pfs_followed_by_a_semicolon_sees_inputs_and_out(store: Store, mode: str) -> None:
    run_job(store, sh("listed", "(ls /pfs; echo end) > /pfs/out/ls"), head(store))
    assert store.get_file("listed@master:/ls") == b"images\nout\nend\n"


def test_command_substitution_over_pfs_works(store: Store, mode: str) -> None:
    line = "for d in $(ls /pfs); do echo $d; done > /pfs/out/dirs"
    run_job(store, sh("subst", line), head(store))
    assert store.get_file("subst@master:/dirs") == b"images\nout\n"


def edges_script(tmp_path: Path) -> Path:
    """Pachyderm's edges.py in miniature: paths hard-coded, none passed in."""
    script = tmp_path / "edges.py"
    script.write_text(
        "import os\n"
        "for dirpath, _, files in os.walk('/pfs/images'):\n"
        "    for f in files:\n"
        "        data = open(os.path.join(dirpath, f), 'rb').read()\n"
        "        open(os.path.join('/pfs/out', f), 'wb').write(data.upper())\n"
    )
    return script


@pytest.mark.skipif(not NAMESPACES, reason="no bwrap and no unshare -Urm on this machine")
@pytest.mark.parametrize("tool", NAMESPACES)
def test_a_script_hard_coding_pfs_runs_unchanged_in_a_namespace(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    monkeypatch.setenv(sandbox.ENV_VAR, tool)
    spec = PipelineSpec(
        name="edges", input=pfs("images"), cmd=(sys.executable, str(edges_script(tmp_path)))
    )
    run_job(store, spec, head(store))
    assert store.get_file("edges@master:/a.txt") == b"HELLO"
    assert not Path("/pfs").exists()  # nothing was made on the host


def test_rewrite_mode_fails_a_job_whose_script_hard_codes_pfs(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.ENV_VAR, "rewrite")
    spec = PipelineSpec(
        name="edges", input=pfs("images"), cmd=(sys.executable, str(edges_script(tmp_path)))
    )
    with pytest.raises(JobFailed) as failed:
        run_job(store, spec, head(store))
    assert "edges.py hard-codes /pfs" in failed.value.job.reason
    assert "bubblewrap" in failed.value.job.reason


def env_dump(name: str, inp: object, **kw: object) -> PipelineSpec:
    script = (
        "import json, os; "
        "json.dump(dict(os.environ), open(os.environ['PFS_OUT'] + '/env.json', 'w'))"
    )
    return PipelineSpec(name=name, input=inp, cmd=(sys.executable, "-c", script), **kw)  # type: ignore[arg-type]


def dumped(store: Store, name: str, path: str = "/env.json") -> dict[str, str]:
    return json.loads(store.get_file(f"{name}@master:{path}"))


def test_the_environment_is_pachyderms_user_code_env(store: Store, mode: str) -> None:
    spec = env_dump("envs", pfs("images"), env={"GREETING": "hi", "PACH_JOB_ID": "mine"})
    job = run_job(store, spec, head(store))
    env = dumped(store, "envs")
    pfs_root = "/pfs" if mode != "rewrite" else env["PFS_ROOT"]
    assert env["images"] == f"{pfs_root}/images/a.txt"
    assert env["images_COMMIT"] == head(store)
    assert env["PACH_JOB_ID"] == job.id  # Pachyderm's own values win over transform.env
    assert env["PACH_OUTPUT_COMMIT_ID"] == job.id
    assert len(env["PACH_DATUM_ID"]) >= 12
    assert env["GREETING"] == "hi"
    assert not any(k.endswith(("_JOIN_ON", "_GROUP_BY")) for k in env)


def test_a_join_input_gets_its_join_on_key(store: Store) -> None:
    store.create_repo("labels")
    store.put_file("labels@master:/a.json", b"{}")
    inp = join(
        pfs("images", glob="/(*).txt", join_on="$1"), pfs("labels", glob="/(*).json", join_on="$1")
    )
    run_job(store, env_dump("joined", inp), head(store))
    env = dumped(store, "joined")
    assert env["PACH_DATUM_images_JOIN_ON"] == "a"
    assert env["PACH_DATUM_labels_JOIN_ON"] == "a"
    assert "PACH_DATUM_images_GROUP_BY" not in env


def test_a_group_input_gets_its_group_by_key_not_a_join_key(store: Store) -> None:
    inp = group(pfs("images", glob="/(*).txt", group_by="$1"))
    run_job(store, env_dump("grouped", inp), head(store))
    env = dumped(store, "grouped")
    assert env["PACH_DATUM_images_GROUP_BY"] == "a"
    assert "PACH_DATUM_images_JOIN_ON" not in env


def with_working_dir(spec: PipelineSpec, wd: str) -> PipelineSpec:
    if any(f.name == "working_dir" for f in dataclasses.fields(spec)):
        return dataclasses.replace(spec, working_dir=wd)  # type: ignore[call-arg]
    object.__setattr__(spec, "working_dir", wd)  # the loader's field is not there yet
    return spec


def test_working_dir_is_where_the_command_runs(store: Store, mode: str, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "step.sh").write_text("pwd > /pfs/out/pwd\n")
    spec = with_working_dir(sh("placed", "sh step.sh"), str(tmp_path / "code"))
    if mode == "rewrite":  # the script's own /pfs is not rewritten: say it with cmd instead
        spec = with_working_dir(sh("placed", "pwd > /pfs/out/pwd"), str(tmp_path / "code"))
    run_job(store, spec, head(store))
    assert store.get_file("placed@master:/pwd").decode().strip() == str(tmp_path / "code")


def test_working_dir_may_be_inside_pfs(store: Store, mode: str) -> None:
    spec = with_working_dir(sh("inout", "pwd > here"), "/pfs/out")
    run_job(store, spec, head(store))
    assert store.get_file("inout@master:/here").decode().strip().endswith("/out")
