"""The roster of one topic, merged from every process's part: pure functions, no I/O.

A part maps an opaque connection id to its record: (key or None for an anonymous viewer, entry,
status). Merging is a union (each process owns its own connections, so parts never overlap); a diff
compares two merged rosters meta by meta, the way Phoenix Presence does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Record = tuple[str | None, dict[str, Any], str | None]
Part = Mapping[str, Record]
Entries = dict[str, dict[str, Any]]


def merge(parts: Iterable[Part]) -> tuple[Entries, int]:
    """(entries by key with their metas sorted by connection id, anonymous connections counted)."""
    entries: Entries = {}
    anonymous = 0
    for part in parts:
        for conn, (key, entry, status) in part.items():
            if key is None:
                anonymous += 1
                continue
            item = entries.get(key)
            if item is None:
                item = entries[key] = {**entry, "metas": []}
            item["metas"].append({"conn": conn, "status": status})
    for item in entries.values():
        item["metas"].sort(key=lambda meta: meta["conn"])
    return entries, anonymous


def public_view(entries: Entries, statuses: frozenset[str]) -> Entries:
    """What a subscriber who may not see the roster is told (`PresencePolicy.public_statuses`): the
    users with a meta in one of `statuses`, by name, with only those metas. No avatar, no other meta
    (so not how many tabs a user has open), and the caller sends no count: the size of the roster and
    the anonymous viewers stay hidden."""
    view: Entries = {}
    for key, item in entries.items():
        metas = [meta for meta in item["metas"] if meta["status"] in statuses]
        if metas:
            view[key] = {"name": item.get("name"), "metas": metas}
    return view


def shown(before: Entries, entries: Entries, limit: int | None) -> Entries:
    """The users a capped roster lists (`PRESENCE_LIMIT`): those `before` listed who are still here,
    then the others in roster order, up to `limit`. Sticky, so a join storm past the cap changes no
    one's listing: the diffs stay small and only the exact count moves."""
    if limit is None or len(entries) <= limit:
        return entries
    view = {key: entries[key] for key in before if key in entries}
    if len(view) > limit:  # the limit was lowered
        return {key: view[key] for key in list(view)[:limit]}
    for key, item in entries.items():
        if len(view) >= limit:
            break
        if key not in view:
            view[key] = item
    return view


def listed(parts: Sequence[Part], before: Entries, limit: int) -> tuple[Entries, int, int]:
    """`shown(before, merged, limit)` with the merged roster's counts, without merging all of it:
    (the listed entries, how many users, how many anonymous). A room of 10,000 costs a pass over its
    records and the entries of the `limit` listed users, not 30,000 dicts and lists per window."""
    keys: dict[str, None] = {}  # every user, in merge order
    anonymous = 0
    for part in parts:
        for key, _entry, _status in part.values():
            if key is None:
                anonymous += 1
            else:
                keys[key] = None
    if len(keys) <= limit:
        chosen = list(keys)
    else:
        chosen = [key for key in before if key in keys][:limit]
        taken = set(chosen)
        for key in keys:
            if len(chosen) >= limit:
                break
            if key not in taken:
                chosen.append(key)
    wanted = set(chosen)
    entries, _ = merge([{c: rec for c, rec in part.items() if rec[0] in wanted} for part in parts])
    return {key: entries[key] for key in chosen}, len(keys), anonymous


def diff(old: Entries, new: Entries) -> tuple[Entries, Entries]:
    """(joins, leaves): per key, the metas added and the metas removed (a status change is both)."""
    joins: Entries = {}
    leaves: Entries = {}
    for key in old.keys() | new.keys():
        before = old.get(key, {"metas": []})
        after = new.get(key, {"metas": []})
        had = {_meta_id(m) for m in before["metas"]}
        has = {_meta_id(m) for m in after["metas"]}
        gone = [m for m in before["metas"] if _meta_id(m) not in has]
        came = [m for m in after["metas"] if _meta_id(m) not in had]
        if gone:
            leaves[key] = {**_fields(before), "metas": gone}
        if came:
            joins[key] = {**_fields(after), "metas": came}
    return joins, leaves


def apply(entries: Entries, joins: Entries, leaves: Entries) -> Entries:
    """What a client does with a diff (used by the tests to check diffs add up to the roster)."""
    result = {key: {**item, "metas": list(item["metas"])} for key, item in entries.items()}
    for key, item in leaves.items():
        if key in result:
            gone = {_meta_id(m) for m in item["metas"]}
            result[key]["metas"] = [m for m in result[key]["metas"] if _meta_id(m) not in gone]
            if not result[key]["metas"]:
                del result[key]
    for key, item in joins.items():
        current = result.setdefault(key, {**_fields(item), "metas": []})
        current["metas"] = sorted(current["metas"] + list(item["metas"]), key=lambda m: m["conn"])
    return result


def _meta_id(meta: dict[str, Any]) -> tuple[str, str | None]:
    return meta["conn"], meta["status"]


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name != "metas"}
