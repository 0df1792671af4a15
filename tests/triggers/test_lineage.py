"""Where a source head stands against a target head: ``relate`` and the forward-only rule.

Pure functions over commit records, checked against a brute-force reading of whole histories.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dagster_versioned.store import Commit, CommitId, Origin, Trigger
from dagster_versioned.store.triggers import relate, should_fire

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def history(
    parents: list[int | None], auto: frozenset[int] | set[int] = frozenset()
) -> list[Commit]:
    """Commits ``0..n-1``; commit i's parent is ``parents[i]`` (an earlier commit, or none)."""
    return [
        Commit(
            id=CommitId(f"{i:032x}"),
            repo="data",
            branch="staging",
            parent=CommitId(f"{p:032x}") if p is not None else None,
            origin=Origin.AUTO if i in auto else Origin.USER,
            started=T0 + timedelta(seconds=i),
            finished=T0 + timedelta(seconds=i),
        )
        for i, p in enumerate(parents)
    ]


def walker(commits: list[Commit]):
    by_id = {c.id: c for c in commits}

    def ancestors(commit: Commit) -> Iterator[Commit]:
        while commit.parent is not None:
            commit = by_id[commit.parent]
            yield commit

    return ancestors


def chain(commit: Commit, ancestors) -> list[Commit]:
    return [commit, *ancestors(commit)]


def test_a_source_that_moved_forward_is_ahead_by_the_commits_since_the_target():
    commits = history([None, 0, 1, 2])  # 0 ← 1 ← 2 ← 3
    lineage = relate(commits[3], commits[1], walker(commits), cap=10)
    assert (lineage.behind, lineage.new_commits) == (False, 2)


def test_a_source_moved_back_to_an_ancestor_of_the_target_is_behind():
    commits = history([None, 0, 1, 2])
    lineage = relate(commits[1], commits[3], walker(commits), cap=10)
    assert (lineage.behind, lineage.new_commits) == (True, 0)


def test_diverged_histories_count_from_where_they_fork():
    commits = history([None, 0, 1, 1, 3])  # 0 ← 1 ← 2, and 1 ← 3 ← 4
    lineage = relate(commits[4], commits[2], walker(commits), cap=10)
    assert (lineage.behind, lineage.new_commits) == (False, 2)


def test_unrelated_histories_count_the_whole_source_but_not_an_auto_root():
    commits = history([None, 0, 1, None], auto={0, 3})  # staging 0 ← 1 ← 2; master's AUTO 3
    lineage = relate(commits[2], commits[3], walker(commits), cap=10)
    assert (lineage.behind, lineage.new_commits) == (False, 2)


def test_a_trigger_never_fires_back_to_an_ancestor_even_with_every_condition_met():
    commits = history([None, 0, 1])
    everything = Trigger(branch="staging", size="0", commits=1, cron="@every 1s", all=True)
    source, target = commits[0], commits[2]
    later = T0 + timedelta(days=1)
    assert not should_fire(everything, source, target, walker(commits), later, lambda _: True)
    assert should_fire(everything, target, source, walker(commits), later, lambda _: True)


def test_cron_counts_ticks_from_when_the_target_moved_not_from_its_commit():
    commits = history([None, 0])
    hourly = Trigger(branch="staging", cron="@every 1h")
    old, new = commits
    moved = T0 + timedelta(days=1)  # the target was moved (back) to an old commit just now
    ancestors = walker(commits)
    at = moved + timedelta(minutes=30)
    assert not should_fire(hourly, new, old, ancestors, at, target_moved=moved)
    assert should_fire(hourly, new, old, ancestors, at)  # without it: the commit's finish
    later = moved + timedelta(minutes=61)
    assert should_fire(hourly, new, old, ancestors, later, target_moved=moved)


@st.composite
def forests(draw: st.DrawFn) -> tuple[list[Commit], int, int, int]:
    """Random histories (each commit's parent an earlier commit, or none), two heads, a cap."""
    n = draw(st.integers(1, 14))
    parents: list[int | None] = [
        draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None for i in range(n)
    ]
    roots = {i for i, p in enumerate(parents) if p is None}
    auto = draw(st.sets(st.sampled_from(sorted(roots))))
    source, target = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
    return history(parents, auto), source, target, draw(st.integers(0, 6))


def brute_force(
    source: Commit, target: Commit, ancestors: Callable[[Commit], Iterator[Commit]]
) -> tuple[set[str], list[Commit]]:
    """The target's whole history, and the source's commits not in it (AUTO roots aside)."""
    theirs = {c.id for c in chain(target, ancestors)}
    new = [
        c
        for c in chain(source, ancestors)
        if c.id not in theirs and not (c.parent is None and c.origin == Origin.AUTO)
    ]
    return theirs, new


@given(forests())
def test_relate_agrees_with_reading_both_whole_histories(case):
    commits, s, t, cap = case
    ancestors = walker(commits)
    source, target = commits[s], commits[t]
    theirs, new = brute_force(source, target, ancestors)

    lineage = relate(source, target, ancestors, cap=cap)

    assert lineage.behind == (source.id in theirs)
    assert lineage.new_commits == min(cap, len(new))


@given(forests())
def test_a_commits_trigger_fires_exactly_when_enough_new_commits_are_ahead(case):
    commits, s, t, wanted = case
    ancestors = walker(commits)
    source, target = commits[s], commits[t]
    theirs, new = brute_force(source, target, ancestors)
    trigger = Trigger(branch="staging", commits=wanted)

    fired = should_fire(trigger, source, target, ancestors, T0)

    expected = source.id not in theirs and (len(new) >= wanted if wanted else False)
    assert fired == expected
