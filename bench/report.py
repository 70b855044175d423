"""The results table, the issue's targets with pass/fail, and bench/RESULTS.md."""

from __future__ import annotations

import re
from pathlib import Path

NODE = "node-ws"
BARE = "daphne-bare"
EMBEDDED = "realtime-embedded"
REDIS2 = "realtime-redis-2p"
REDIS2_PG = "realtime-redis-2p-pg"
TWO_PROCESSES = (REDIS2, REDIS2_PG)  # judged by the two-process targets

COLUMNS = [
    ("server", "server"),
    ("scenario", "scenario"),
    ("viewers", "viewers/conns"),
    ("comments", "comments"),
    ("dps", "deliveries/s"),
    ("lost", "lost"),
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("cpu", "server CPU-s"),
    ("rss", "peak RSS MB"),
    ("client", "client CPU-s (ELU)"),
    ("redis_cpu", "redis CPU-s"),
    ("cmds", "redis cmds/comment"),
    ("cps", "connects/s"),
    ("failed", "failed"),
    ("kb", "KB/conn"),
    ("noise", "other CPU-s"),
    ("target", "target"),
]


def _find(rows, server, scenario):
    for r in rows:
        if r["server"] == server and r["scenario"] == scenario and not r.get("error"):
            return r
    return None


def _f(x, nd=0):
    if x is None:
        return "-"
    if isinstance(x, float) and nd == 0 and abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def comments_published(row) -> int:
    """Comments that went through the server: the product acks each stored (and published) comment;
    the tutorial and the relay acknowledge nothing, so for them it is what was sent."""
    c = row.get("client") or {}
    return c.get("acks") or c.get("sent") or 0


def cmds_per_comment(row) -> float | None:
    if row.get("redis_cmds_total") is None or not comments_published(row):
        return None
    return row["redis_cmds_total"] / comments_published(row)


def kb_per_conn(row) -> float | None:
    c = (row.get("client") or {}).get("connect") or {}
    if row.get("rss_after") is None or not c.get("ok"):
        return None
    return (row["rss_after"] - row["rss_before"]) / c["ok"] / 1024


# ---------------------------------------------------------------------------------------------------
# Targets (issue 13; issue 4's were looser). Each check returns (passed, measured text) or None when it
# does not apply.
# ---------------------------------------------------------------------------------------------------


def _room_ok(row, p99_max, strict_lt=False, p50_max=None):
    c = row["client"]
    p50 = (c.get("latency") or {}).get("p50")
    p99 = (c.get("latency") or {}).get("p99")
    lost = c.get("lost")
    p99_ok = p99 is not None and (p99 < p99_max if strict_lt else p99 <= p99_max)
    p50_ok = p50_max is None or (p50 is not None and p50 <= p50_max)
    return lost == 0 and p99_ok and p50_ok, f"lost {lost:,}, p50 {_f(p50, 1)} ms, p99 {_f(p99, 1)} ms"


def _cpu_vs_node(row, node, most: float) -> tuple[bool, str]:
    if not (node and node.get("server_cpu") and row.get("server_cpu") is not None):
        return True, ""
    ratio = row["server_cpu"] / node["server_cpu"]
    return ratio <= most, f", CPU {ratio:.2f}x node-ws"


def check(row, rows):
    """The issue's target for this row's scenario, applied to any server (the product must pass it;
    the baselines show where they stand)."""
    server, scen = row["server"], row["scenario"]
    two = server in TWO_PROCESSES
    if row.get("error"):
        return False, row["error"]
    node = _find(rows, NODE, scen)
    if scen == "steady":
        p99_max = 250 if two else 100
        ok, text = _room_ok(row, p99_max, p50_max=None if two else 40)
        if two:
            small = _find(rows, server, "steady-small")
            a, b = cmds_per_comment(small) if small else None, cmds_per_comment(row)
            if a and b:
                grow = b / a
                ok = ok and grow <= 1.25
                text += f", cmds/comment {a:.1f} -> {b:.1f} ({small['viewers']} -> {row['viewers']} viewers)"
            return ok, text + f" [target: 0 lost, p99 <= {p99_max} ms, cmds/comment flat]"
        if server == NODE:
            return ok, text + " [reference]"
        # Issue 24: p99 <= 60 ms and CPU <= 1.5x node-ws, storing every comment durably.
        ok, text = _room_ok(row, 60, p50_max=40)
        cpu_ok, cpu_text = _cpu_vs_node(row, node, 1.5)
        return (
            ok and cpu_ok,
            text + cpu_text + " [target: 0 lost, p50 <= 40 ms, p99 <= 60 ms, CPU <= 1.5x node-ws]",
        )
    if scen == "steady-small":
        return None
    if scen == "hot":
        p99_max = 150 if two else 500
        ok, text = _room_ok(row, p99_max, strict_lt=not two)
        return ok, text + f" [target: 0 lost, p99 {'<=' if two else '<'} {p99_max} ms]"
    if scen == "bigroom" and two:
        # Issue 24 item 5: 10,000 viewers on each of two processes (--bigroom-viewers 20000
        # --client-processes 2), Redis commands per comment flat against the steady room's 1,000.
        ok, text = _room_ok(row, 1500, strict_lt=True)
        steady = _find(rows, server, "steady") or _find(rows, server, "steady-small")
        a, b = (cmds_per_comment(steady) if steady else None), cmds_per_comment(row)
        if a and b:
            ok = ok and b / a <= 1.25
            text += f", cmds/comment {a:.1f} -> {b:.1f} ({steady['viewers']:,} -> {row['viewers']:,} viewers)"
        return ok, text + " [target: 0 lost, p99 < 1500 ms, cmds/comment flat in viewers]"
    if scen == "bigroom":
        ok, text = _room_ok(row, 1000, strict_lt=True)
        if server == NODE:
            return ok, text + " [reference]"
        cpu_ok, cpu_text = _cpu_vs_node(row, node, 0.8)
        return ok and cpu_ok, text + cpu_text + " [target: 0 lost, p99 < 1000 ms, CPU <= 0.8x node-ws]"
    if scen == "producer":
        ok, text = _room_ok(row, 500, strict_lt=True)
        return ok, text + " [target: 0 lost, p99 < 500 ms]"
    if scen == "round":
        c = row["client"]
        lat, base = c.get("latency") or {}, c.get("baseline") or {}
        p99 = lat.get("p99")
        ok = p99 is not None and p99 < 250 and c.get("delivered") == row.get("recipients", row["viewers"])
        text = (
            f"ping p50 {_f(lat.get('p50'), 1)} ms, p99 {_f(p99, 1)} ms, max {_f(lat.get('max'), 1)} ms during the "
            f"round (before it: p99 {_f(base.get('p99'), 1)} ms); {c.get('delivered'):,} recipients in "
            f"{_f(c.get('round_s'), 1)} s"
        )
        return ok, text + " [target: ping p99 < 250 ms while a 10,000-recipient round runs]"
    bare = _find(rows, BARE, scen) if server != BARE else None
    if scen == "storm":
        c = row["client"]["connect"]
        ok = c["failed"] == 0
        text = f"{c['failed']} failed, {_f(c.get('perSec'))} connects/s"
        if bare and bare["client"]["connect"].get("perSec") and c.get("perSec"):
            # Issue 24 item 3: at least 90% of bare daphne's rate, same machine, same run.
            ratio = c["perSec"] / bare["client"]["connect"]["perSec"]
            ok = ok and ratio >= 0.9
            text += f" = {ratio:.2f}x daphne-bare's {_f(bare['client']['connect'].get('perSec'))}/s"
        return ok, text + " [target: 0 failed, >= 0.9x daphne-bare]"
    if scen == "idle":
        kb = kb_per_conn(row)
        if server == NODE:
            return True, f"{_f(kb, 1)} KB/conn [reference]"
        nkb = kb_per_conn(node) if node else None
        if kb is None:
            return None
        text = f"{kb:.1f} KB/conn" + (f" = {kb / nkb:.1f}x node-ws" if nkb else "")
        floor = kb_per_conn(bare) if bare else None
        if floor:
            text += f" (daphne-bare: {floor:.1f} KB)"
            # Issue 24 item 3: no more memory per socket than bare daphne.
            return kb <= floor, text + " [target: <= daphne-bare]"
        return kb <= 24, text + " [target: <= 24 KB/conn; run daphne-bare beside it for issue 24's]"
    return None


def cells(row, rows) -> dict:
    c = row.get("client") or {}
    conn = c.get("connect") or {}
    lat = c.get("latency") if row.get("scenario") not in ("storm", "idle") else conn.get("latency")
    elu = (c.get("clientElu") or {}).get("viewers") or []
    lost = c.get("lost")
    out = {
        "server": row["server"],
        "scenario": row["scenario"],
        "viewers": f"{row['viewers']:,}",
        "comments": _f(c.get("sent")),
        "dps": _f(c.get("deliveriesPerSec")),
        "lost": "-" if lost is None else (f"{lost:,} ({lost / c['expected'] * 100:.1f}%)" if lost else "0"),
        "p50": _f((lat or {}).get("p50"), 1),
        "p99": _f((lat or {}).get("p99"), 1),
        "cpu": _f(row.get("server_cpu"), 1),
        "rss": _f(row["peak_rss"] / 2**20, 0) if row.get("peak_rss") else "-",
        "client": (_f(row.get("client_cpu"), 1) + (f" ({max(elu):.2f})" if elu else ""))
        if row.get("client_cpu") is not None
        else "-",
        "redis_cpu": _f(row.get("redis_cpu"), 1),
        "cmds": _f(cmds_per_comment(row), 1),
        "cps": _f(conn.get("perSec")) if row["scenario"] in ("storm", "idle") else "-",
        "failed": str(conn.get("failed", "-")) if conn else "-",
        "kb": _f(kb_per_conn(row), 1) if row["scenario"] == "idle" else "-",
        "noise": _f(row.get("noise_cpu"), 1),
        "target": "-",
    }
    if row.get("error"):
        out["target"] = "ERROR"
        return out
    res = check(row, rows)
    if res is not None:
        if row["server"] == NODE and "[reference]" in res[1]:
            out["target"] = "ref"
        elif row["server"].startswith(BARE):
            out["target"] = "probe"
        else:
            out["target"] = "PASS" if res[0] else "FAIL"
    return out


def table(rows) -> str:
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        c = cells(row, rows)
        lines.append("| " + " | ".join(c[k] for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def targets(rows) -> str:
    wanted = [
        ("Steady room, one process, embedded default", EMBEDDED, "steady"),
        ("Hot room (where node-ws saturates), embedded default", EMBEDDED, "hot"),
        ("Hot room, Redis, two processes", REDIS2, "hot"),
        ("Hot room, Redis and PostgreSQL, two processes", REDIS2_PG, "hot"),
        ("Big room, 10,000 viewers on one process", EMBEDDED, "bigroom"),
        ("One producer connection at 200/s", EMBEDDED, "producer"),
        ("Two processes on Redis, steady room split across them", REDIS2, "steady"),
        ("Big room on two processes on Redis (20,000 viewers)", REDIS2, "bigroom"),
        ("Connect storm, embedded default", EMBEDDED, "storm"),
        ("Connect storm, Redis, two processes", REDIS2, "storm"),
        ("Idle memory per connection, embedded default", EMBEDDED, "idle"),
        ("Idle memory per connection, Redis, two processes", REDIS2, "idle"),
        ("Targeted announcement round, one process (ping while it runs)", EMBEDDED, "round"),
    ]
    out = ["| target | result | measured |", "|---|---|---|"]
    for label, server, scen in wanted:
        row = next((r for r in rows if r["server"] == server and r["scenario"] == scen), None)
        if row is None:
            out.append(f"| {label} | not run | - |")
            continue
        res = check(row, rows)
        if res is None:
            out.append(f"| {label} | n/a | baseline missing |")
        else:
            out.append(f"| {label} | {'PASS' if res[0] else 'FAIL'} | {res[1]} |")
    node_hot = _find(rows, NODE, "hot")
    if node_hot:
        c = node_hot["client"]
        out.append(
            f"| (context) node-ws in the hot room | - | {_f(c['deliveriesPerSec'])} deliveries/s, "
            f"p99 {_f(c['latency']['p99'], 1)} ms, lost {c['lost']:,}, {_f(node_hot['server_cpu'], 1)} CPU-s |"
        )
    return "\n".join(out)


def details(rows) -> str:
    """Per-row notes worth reading: errors, closes, server log problems, Redis command mix."""
    out = []
    for row in rows:
        c = row.get("client") or {}
        notes = []
        if row.get("product"):
            notes.append(row["product"])
        if row.get("error"):
            notes.append(f"error: {row['error']}")
        conn = c.get("connect") or {}
        if conn.get("errors"):
            notes.append(f"connect errors: {conn['errors']}")
        for key, label in (
            ("viewerCloses", "viewer closes"),
            ("viewerErrors", "viewer errors"),
            ("postErrors", "post errors"),
        ):
            if c.get(key):
                notes.append(f"{label}: {c[key]}")
        if c.get("firstPostError"):
            notes.append(f"first post error: {c['firstPostError']}")
        if c.get("dups"):
            notes.append(f"{c['dups']:,} duplicate deliveries")
        if c.get("reordered"):
            # Order is judged against the send order: with several posters the server may store two
            # comments sent a moment apart the other way round, so only one poster makes it a fault.
            why = "send order; several posters race" if (c.get("posters") or 1) > 1 else "one poster: a fault"
            notes.append(f"{c['reordered']:,} deliveries out of order ({why})")
        if c.get("drain") and c["drain"] != "complete":
            notes.append(f"drain ended: {c['drain']} (deliveries still missing were counted lost)")
        if c.get("ackLatency"):
            notes.append(
                f"poster acks {c.get('acks'):,}/{c.get('sent'):,}, ack p50/p99 {c['ackLatency']['p50']}/{c['ackLatency']['p99']} ms"
            )
        if row.get("scenario") == "round" and c.get("baseline"):
            base, lat = c["baseline"], c.get("latency") or {}
            notes.append(
                f"ping before the round p50/p99 {base.get('p50')}/{base.get('p99')} ms ({base.get('count')} pings), "
                f"during it p50/p99/max {lat.get('p50')}/{lat.get('p99')}/{lat.get('max')} ms ({lat.get('count')} pings, "
                f"{c.get('unanswered', 0)} unanswered); round of {c.get('delivered'):,} recipients took "
                f"{c.get('round_s')} s"
            )
            sub, sub_base = c.get("subscribe") or {}, c.get("subscribe_baseline") or {}
            notes.append(
                f"a stream subscribe (database work) before the round p50/p99 {sub_base.get('p50')}/"
                f"{sub_base.get('p99')} ms, during it p50/p99/max {sub.get('p50')}/{sub.get('p99')}/"
                f"{sub.get('max')} ms ({sub.get('count')} subscribes)"
            )
        if c.get("frames") and c.get("received"):
            notes.append(f"{c['received'] / c['frames']:.1f} deliveries per frame")
        if row.get("server_sys_cpu") is not None and row.get("server_cpu"):
            notes.append(f"server CPU in the kernel {row['server_sys_cpu']} of {row['server_cpu']:.2f} s")
        n = comments_published(row)
        if row.get("redis_cmds") and n:
            mix = ", ".join(f"{k} {v / n:.1f}" for k, v in list(row["redis_cmds"].items())[:6])
            kb = (row.get("redis_bytes") or 0) / n / 1024
            notes.append(
                f"redis per comment: {cmds_per_comment(row):.1f} commands ({mix}), {kb:.1f} KB in+out"
            )
        logs = row.get("logs") or {}
        if logs.get("problem_lines"):
            notes.append(
                f"server log: {logs['problem_lines']} problem lines, e.g. " + " | ".join(logs["samples"][:3])
            )
        if notes:
            out.append(f"- **{row['server']} / {row['scenario']}**: " + "; ".join(notes))
    return "\n".join(out)


def presence_table(rows) -> str:
    """The presence scenario's rooms side by side (issue 20): page.<slug> with presence, broadcast.all
    without, the same viewers and joins; and what a process sends over the layer for presence."""
    pairs = [r for r in rows if str(r.get("scenario", "")).startswith("presence/")]
    if not pairs:
        return ""
    out = [
        "### Presence: joins into a room with and without presence",
        "",
        "| server | room | viewers + joining | join s | frames/viewer/s | KB/viewer/s | count lag p50 / p99 / max ms "
        "| viewers at final count | server CPU-s (share of window) | client CPU-s | window s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in pairs:
        c = row.get("client") or {}
        if row.get("error"):
            out.append(
                f"| {row['server']} | {row['scenario']} | {row['viewers']:,} | ERROR: {row['error'][:120]} |"
            )
            continue
        lag = c.get("lag") or {}
        presence = row["scenario"] == "presence/presence"
        out.append(
            f"| {row['server']} | {'page.bench (presence)' if presence else 'broadcast.all (none)'} "
            f"| {c.get('viewers', 0):,} + {c.get('joiners', 0):,} | {_f(c.get('join_s'), 1)} "
            f"| {_f(c.get('frames_per_viewer_s'), 2)} | {_f((c.get('bytes_per_viewer_s') or 0) / 1024, 1)} "
            + (f"| {lag.get('p50')} / {lag.get('p99')} / {lag.get('max')} " if presence else "| - ")
            + (f"| {c.get('saw_final', 0):,} of {c.get('viewers', 0):,} " if presence else "| - ")
            + f"| {_f(row.get('server_cpu'), 1)} ({_f(row.get('server_cpu_share'), 2)}) "
            f"| {_f(row.get('client_cpu'), 1)} | {_f(c.get('window_s'), 1)} |"
        )
    layer = next((r["layer"] for r in pairs if r.get("layer")), None)
    if layer:
        wholes = "; ".join(
            f"{int(k.split('_')[2]):,} members: {v / 1024:.0f} KB"
            for k, v in layer.items()
            if k.startswith("whole_part_")
        )
        out += [
            "",
            "Over the channel layer (computed, msgpack as channels_redis encodes it; what one process sends "
            f"to the others): during the joins a diff per PRESENCE_WINDOW, {layer['storm_diff_bytes'] / 1024:.1f} KB "
            f"({layer['storm_bytes_per_s'] / 1024:.1f} KB/s); at rest a heartbeat, {layer['rest_bytes_per_s']} B/s; "
            f"the whole part, only when asked (a new process, a gap, a layer outage): {wholes}.",
        ]
    return "\n".join(out)


def section(header: list[str], rows) -> str:
    presence = presence_table(rows)
    others = [r for r in rows if not str(r.get("scenario", "")).startswith("presence/")]
    return "\n".join(
        [
            *header,
            "",
            *([table(others), ""] if others else []),
            *([presence, ""] if presence else []),
            "### Targets",
            "",
            targets(rows),
            "",
            "### Notes per row",
            "",
            details(rows) or "(none)",
        ]
    )


START, END = "<!-- bench:runs:start -->", "<!-- bench:runs:end -->"


def record(path: Path, section: str) -> None:
    """Put this run's section at the top of the generated part of RESULTS.md; older runs stay below,
    a re-rendered run replaces its own section (same heading), and the hand-written analysis outside
    the markers is kept."""
    text = path.read_text() if path.exists() else f"# Benchmark results\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    body, tail = rest.split(END, 1)
    title = section.strip().splitlines()[0]
    runs = [r.strip() for r in re.split(r"(?m)^(?=## )", body) if r.strip()]
    runs = [r for r in runs if r.splitlines()[0] != title]
    parts = [section.strip(), *runs]
    path.write_text(f"{head}{START}\n\n" + "\n\n".join(parts) + f"\n\n{END}{tail}")


def strip_ansi(s: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", s)
