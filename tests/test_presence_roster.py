"""Property tests of the roster merge: whatever the interleaving of joins, leaves, status changes,
process crashes and re-syncs, what an observer merges from the parts it holds equals the metas of the
live connections once it has re-synced, and state + diffs always add up to the merged roster (and,
for a viewer without the roster, restricted diffs add up to the restricted view: who is typing)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.presence.roster import apply, diff, listed, merge, public_view, shown

PUBLIC = frozenset({"typing"})

PROCESSES = ["p0", "p1", "p2"]
USERS = ["1", "2", "3", None]  # None: an anonymous viewer

operations = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.sampled_from(PROCESSES), st.sampled_from(USERS)),
        st.tuples(st.just("leave"), st.sampled_from(PROCESSES), st.integers(0, 20)),
        st.tuples(
            st.just("status"),
            st.sampled_from(PROCESSES),
            st.integers(0, 20),
            st.sampled_from([None, "typing"]),
        ),
        st.tuples(st.just("crash"), st.sampled_from(PROCESSES)),
        st.tuples(st.just("sync"), st.sampled_from(PROCESSES)),  # the observer hears that part whole
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_merged_roster_equals_the_live_connections_after_resync(ops):
    live = {p: {} for p in PROCESSES}  # what each process really holds: conn id -> record
    heard = {}  # what the observer holds of each process's part (whole parts, as the exchange sends)
    sent, client = {}, {}  # the observer's last roster sent, and what a client built from state + diffs
    onlooker = {}  # what a viewer without the roster built from the restricted diffs
    ids = iter(range(10_000))
    for op in ops:
        kind, process = op[0], op[1]
        if kind == "join":
            key = op[2]
            live[process][f"{process}-{next(ids)}"] = (
                key,
                {"name": f"user {key}", "avatar": None} if key else {},
                None,
            )
        elif kind == "leave" and live[process]:
            conns = sorted(live[process])
            del live[process][conns[op[2] % len(conns)]]
        elif kind == "status" and live[process]:
            conns = sorted(live[process])
            cid = conns[op[2] % len(conns)]
            key, entry, _old = live[process][cid]
            live[process][cid] = (key, entry, op[3])
        elif kind == "crash":
            live[process] = {}  # its part disappears (the lease expired at the observer)
            heard.pop(process, None)
        elif kind == "sync":
            heard[process] = dict(live[process])
        # The observer flushes a diff now and then: a client applying it stays equal to the roster.
        entries, anonymous = merge(heard.values())
        joins, leaves = diff(sent, entries)
        client = apply(client, joins, leaves)
        assert client == entries
        onlooker = apply(onlooker, *diff(public_view(sent, PUBLIC), public_view(entries, PUBLIC)))
        assert onlooker == public_view(entries, PUBLIC)
        assert all(set(item) == {"name", "metas"} for item in onlooker.values())
        assert all(m["status"] == "typing" for item in onlooker.values() for m in item["metas"])
        sent = entries
    for process in PROCESSES:
        heard[process] = dict(live[process])
    entries, anonymous = merge(heard.values())
    truth = {}
    for part in live.values():
        for cid, (key, _entry, status) in part.items():
            if key is not None:
                truth.setdefault(key, set()).add((cid, status))
    assert {key: {(m["conn"], m["status"]) for m in item["metas"]} for key, item in entries.items()} == truth
    assert anonymous == sum(1 for part in live.values() for rec in part.values() if rec[0] is None)
    assert apply(client, *diff(sent, entries)) == entries


def test_a_status_change_is_a_leave_and_a_join_of_the_same_key():
    before, _ = merge([{"c1": ("7", {"name": "Bob", "avatar": None}, None)}])
    after, _ = merge([{"c1": ("7", {"name": "Bob", "avatar": None}, "typing")}])
    joins, leaves = diff(before, after)
    assert leaves == {"7": {"name": "Bob", "avatar": None, "metas": [{"conn": "c1", "status": None}]}}
    assert joins == {"7": {"name": "Bob", "avatar": None, "metas": [{"conn": "c1", "status": "typing"}]}}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 15), st.booleans()), max_size=80), st.integers(1, 6))
def test_a_capped_roster_keeps_who_it_listed_and_diffs_add_up_to_it(ops, limit):
    """`shown` (PRESENCE_LIMIT): at most `limit` users; everyone while they fit; a listed user stays
    listed while here; a free place goes to the next in roster order; state + diffs of the capped
    rosters add up to the capped roster (what a client holds), whatever the joins and leaves, and
    whatever order the merge gives (local part first: it differs between processes and over time)."""
    roster: dict = {}
    listed: dict = {}
    client: dict = {}
    for joins, user, backwards in ops:
        key = str(user)
        if joins:
            roster.setdefault(key, {"name": key, "metas": [{"conn": f"c{key}", "status": None}]})
        else:
            roster.pop(key, None)
        before = listed
        merged = dict(reversed(roster.items())) if backwards else dict(roster)
        listed = shown(before, merged, limit)
        assert len(listed) == min(limit, len(roster))
        assert all(key in listed for key in before if key in roster)
        assert set(listed) <= set(roster)
        client = apply(client, *diff(before, listed))
        assert client == listed


def test_a_capped_roster_lists_the_first_who_came():
    roster = {str(n): {"name": str(n), "metas": []} for n in range(10)}
    assert list(shown({}, roster, 3)) == ["0", "1", "2"]
    del roster["1"]
    assert list(shown({"0": {}, "1": {}, "2": {}}, roster, 3)) == ["0", "2", "3"]
    assert shown({}, roster, None) is roster


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.text("abcdef", min_size=1, max_size=3),
            st.tuples(st.sampled_from(["1", "2", "3", "4", "5", None]), st.just({"name": "x"}), st.none()),
            max_size=8,
        ),
        max_size=3,
    ),
    st.lists(st.sampled_from(["1", "2", "3", "4", "5", "6"]), unique=True, max_size=4),
    st.integers(1, 5),
)
def test_listing_without_the_full_merge_is_the_capped_merge(parts, before_keys, limit):
    """`listed` (what a window costs in a big room) gives exactly what merging everything and then
    capping gives: the same entries in the same order, the same counts."""
    before = {key: {} for key in before_keys}
    entries, anonymous = merge(parts)
    expected = shown(before, entries, limit)
    got, count, anon = listed(parts, before, limit)
    assert list(got.items()) == list(expected.items())
    assert (count, anon) == (len(entries), anonymous)
