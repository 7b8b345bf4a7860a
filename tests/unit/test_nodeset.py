"""Node sets as bits over a numbering (model/nodeset.py), and the state's use of them:
a number freed by a deleted node and given to a new one never counts for a target that
counted the old node."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nodecount_scaler.model.nodeset import NodeNumbers, NodeSet
from nodecount_scaler.model.state import ClusterState
from nodecount_scaler.model.targets import TargetKey
from testkit.builders import deployment, node, node_view, target_view

NAMES = tuple(f"n{i}" for i in range(8))


def test_numbers_reuse_the_lowest_freed() -> None:
    numbers = NodeNumbers()
    assert [numbers.number(n) for n in ("a", "b", "c")] == [0, 1, 2]
    assert numbers.number("b") == 1
    numbers.release("b")
    assert numbers.get("b") is None
    assert numbers.number("d") == 1
    assert list(numbers.members(0b111)) == ["a", "d", "c"]
    assert len(numbers) == 3


def test_a_node_set_behaves_as_a_set_of_names() -> None:
    numbers = NodeNumbers()
    for name in NAMES:
        numbers.number(name)
    s = NodeSet(numbers, numbers.bits(["n1", "n3"]))
    assert s == {"n1", "n3"}
    assert {"n3", "n1"} == s
    assert "n1" in s
    assert "n2" not in s
    assert "nope" not in s
    assert 7 not in s  # type: ignore[comparison-overlap]  # a non-name is no member
    assert len(s) == 2
    assert sorted(s) == ["n1", "n3"]
    assert s
    s.add("n2")
    s.discard("n1")
    s.discard("nope")
    assert s == {"n2", "n3"}
    other = NodeSet(numbers, numbers.bits(["n3", "n4"]))
    assert s ^ other == {"n2", "n4"}
    assert s ^ {"n3", "x"} == {"n2", "x"}
    assert not NodeSet(numbers)
    assert NodeSet(numbers, s.bits) == s


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.sampled_from(NAMES), st.sampled_from(("a", "b"))),
            st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just("")),
            st.tuples(st.just("relist"), st.sampled_from(NAMES), st.sampled_from(("a", "b"))),
        ),
        max_size=25,
    )
)
def test_state_sets_stay_exact_through_deletes_and_reuse(steps: list[tuple[str, str, str]]) -> None:
    """Puts, deletes and relists in any order: each target's set is exactly its pool's
    nodes, whatever numbers were freed and given out again."""
    state = ClusterState(0.0, 0.0)
    pools: dict[str, str] = {}
    for pool in ("a", "b"):
        notes = {"nodecount-scaler.io/node-selector": f"pool={pool}"}
        state.upsert_target(target_view(deployment(pool, annotations=notes)), 0.0)
    for verb, name, pool in steps:
        if verb == "put":
            pools[name] = pool
            state.upsert_node(node_view(node(name, labels={"pool": pool})), 0.0)
        elif verb == "delete":
            pools.pop(name, None)
            state.delete_node(name)
        else:
            # A relist that drops the named node and moves every other to `pool`.
            pools = {n: pool for n in pools if n != name}
            views = [node_view(node(n, labels={"pool": p})) for n, p in pools.items()]
            state.replace_nodes(views, 0.0)
        for target_pool in ("a", "b"):
            expected = {n for n, p in pools.items() if p == target_pool}
            assert state.targets[TargetKey("ns", target_pool)].eligible == expected
