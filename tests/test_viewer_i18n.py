"""The viewer's language: the gettext catalogues shipped with the core, the streams and announcements
apps and the demo (complete, compiled, current), every error code with a human message, the stream page
and its scripts' words in Simplified Chinese, announcements in the admin and on the page, the demo's
login, and the demo's language menu. (tests/test_connection_language.py: the socket's own messages;
tests/test_i18n_browser.py: the same pages in Chromium.)"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from realtime.streams.texts import client_texts, error_texts
from tests.conftest import ROOT

CATALOGUES = [
    ROOT / "realtime/locale",
    ROOT / "realtime/streams/locale",
    ROOT / "realtime/announcements/locale",
    ROOT / "project/locale",
]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """The test client's requests activate the request's language in this thread and leave it there."""
    yield
    translation.deactivate()


def po_entries(po: Path) -> list[tuple[str | None, str, str, bool]]:
    """(msgctxt, msgid, msgstr, fuzzy) of every entry but the header; obsolete ones (#~) left out."""
    entries = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        if block.lstrip().startswith("#~") or "msgid" not in block:
            continue
        msgid = _po_field(block, "msgid")
        if msgid:
            entries.append(
                (_po_field(block, "msgctxt"), msgid, _po_field(block, "msgstr") or "", "#, fuzzy" in block)
            )
    return entries


def _po_field(block: str, name: str) -> str | None:
    match = re.search(rf'^{name} ((?:".*"\n?)+)', block, re.M)
    return "".join(re.findall(r'"(.*)"', match.group(1))) if match else None


def english_msgids() -> set[str]:
    return {
        msgid.replace('\\"', '"')
        for cat in CATALOGUES
        for _, msgid, _, _ in po_entries(cat / "zh_Hans/LC_MESSAGES/django.po")
    }


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_chinese_catalogue_is_complete_and_valid(catalogue):
    entries = po_entries(catalogue / "zh_Hans/LC_MESSAGES/django.po")
    assert len(entries) > 10
    untranslated = [msgid for _, msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert untranslated == []
    english = [msgid for _, msgid, msgstr, _ in entries if not CJK.search(msgstr)]
    assert english == [], "every translation is Chinese"
    # msgfmt --check: placeholders (python-format) agree between msgid and msgstr, the header is sound.
    for lang in ("zh_Hans", "en"):
        result = subprocess.run(
            ["msgfmt", "--check", "-o", "/dev/null", str(catalogue / lang / "LC_MESSAGES/django.po")],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_shipped_mo_files_are_compiled_from_the_po_files(catalogue, tmp_path):
    for lang in ("zh_Hans", "en"):
        po = catalogue / lang / "LC_MESSAGES/django.po"
        fresh = tmp_path / f"{lang}.mo"
        subprocess.run(["msgfmt", "-o", str(fresh), str(po)], check=True)
        with open(po.with_suffix(".mo"), "rb") as shipped, open(fresh, "rb") as compiled:
            assert gettext.GNUTranslations(shipped)._catalog == gettext.GNUTranslations(compiled)._catalog, (
                f"{po} changed since it was compiled: run manage.py compilemessages"
            )


def _copy_core(copy: Path) -> None:
    """realtime/ without its feature apps, whose strings are in their own catalogues."""
    features = {"streams", "announcements"}
    shutil.copytree(
        ROOT / "realtime",
        copy,
        ignore=lambda folder, names: [
            n
            for n in names
            if n in ("__pycache__",)
            or n.endswith(".mo")
            or (folder == str(ROOT / "realtime") and n in features)
        ],
    )


def _copy_demo(copy: Path) -> None:
    """The example site's own words: its templates and the project package."""
    shutil.copytree(ROOT / "templates", copy / "templates")
    shutil.copytree(
        ROOT / "project", copy / "project", ignore=shutil.ignore_patterns("__pycache__", "*.mo", "locale")
    )
    shutil.copytree(ROOT / "project/locale", copy / "locale", ignore=shutil.ignore_patterns("*.mo"))


def _copy_app(app: str):
    def copy_it(copy: Path) -> None:
        shutil.copytree(ROOT / app, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))

    return copy_it


@pytest.mark.parametrize(
    "catalogue, copy_sources",
    [
        ("realtime/locale", _copy_core),
        ("realtime/streams/locale", _copy_app("realtime/streams")),
        ("realtime/announcements/locale", _copy_app("realtime/announcements")),
        ("project/locale", _copy_demo),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_catalogue_has_every_marked_string(tmp_path, catalogue, copy_sources):
    """makemessages over a copy of the sources finds nothing that the shipped catalogue lacks (or no
    longer uses)."""
    copy = tmp_path / "sources"
    copy_sources(copy)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    shipped = {
        (ctx, msgid) for ctx, msgid, _, _ in po_entries(ROOT / catalogue / "zh_Hans/LC_MESSAGES/django.po")
    }
    current = {(ctx, msgid) for ctx, msgid, _, _ in po_entries(copy / "locale/zh_Hans/LC_MESSAGES/django.po")}
    assert len(current) > 10
    assert current - shipped == set(), "strings marked for translation but missing from the catalogue"
    assert shipped - current == set(), "strings in the catalogue that nothing uses any more"


def error_codes_in_the_source() -> set[str]:
    """Every error code the server or the browser client can produce, read from the source."""
    codes = set()
    for path in (ROOT / "realtime").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        codes |= set(re.findall(r'(?:ProtocolError|Denied)\(\s*"([a-z_]+)"', source))
        codes |= set(re.findall(r'\bcode="([a-z_]+)"', source))
        codes |= set(re.findall(r'_error\(\d+, "([a-z_]+)"', source))
        if "Unavailable(" in source:
            codes.add("unavailable")
    client = (ROOT / "realtime/static/realtime/realtime.js").read_text(encoding="utf-8")
    codes |= set(re.findall(r'RealtimeError\(\s*"([a-z_]+)"', client))
    codes |= set(re.findall(r'_stop\("([a-z_]+)"\)', client))
    protocol = (ROOT / "docs/protocol.md").read_text(encoding="utf-8")
    protocol = protocol.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    codes |= set(re.findall(r"^\| `([a-z_]+)` \|", protocol, re.M))
    codes |= {
        code
        for line in re.findall(r"^\| stream codes \| (.*) \|$", protocol, re.M)
        for code in re.findall(r"`([a-z_]+)`", line)
    }
    return codes - {"retry_after"}  # a field named on the stream codes' line, not a code


def test_every_error_code_has_a_human_message_in_both_languages():
    codes = error_codes_in_the_source()
    assert {"muted", "slow_mode", "rate_limited", "bad_json", "unavailable", "offline", "banned"} <= codes
    english = error_texts()
    missing = sorted(code for code in codes if f"error.{code}" not in english)
    assert missing == [], "give these codes a text in realtime/streams/texts.py"
    with translation.override("zh-hans"):
        chinese = client_texts()
    assert set(chinese) == set(client_texts())
    untranslated = sorted(key for key, text in chinese.items() if not CJK.search(text))
    assert untranslated == [], "every word of the page's scripts is translated"
    placeholders = {key: sorted(re.findall(r"%\((\w+)\)s", text)) for key, text in client_texts().items()}
    assert placeholders == {key: sorted(re.findall(r"%\((\w+)\)s", text)) for key, text in chinese.items()}


def test_python_messages_models_and_admin_speak_chinese():
    from realtime.streams import admin as stream_admin
    from realtime.streams.apps import StreamsConfig
    from realtime.streams.models import Comment, Stream
    from realtime.streams.rules import parse_draft

    with translation.override("zh-hans"):
        assert str(Stream._meta.verbose_name) == "直播"
        assert str(Stream._meta.get_field("slow_mode_seconds").verbose_name) == "慢速模式（秒）"
        assert str(Comment.State.HIDDEN.label) == "已被房管隐藏"
        assert str(StreamsConfig.verbose_name) == "直播"
        assert str(stream_admin.CommentAdmin.hide.short_description) == "对观众隐藏"
        with pytest.raises(Exception) as refused:
            parse_draft({"text": "x" * 1000, "client_id": "a"})
        assert refused.value.code == "text_too_long" and CJK.search(refused.value.message)
    with translation.override("en"), pytest.raises(Exception) as refused:
        parse_draft({"text": "x" * 1000, "client_id": "a"})
    assert refused.value.message.startswith("Comments may be at most")


class VisibleText(HTMLParser):
    """Text nodes and people-facing attributes, outside <script>/<style> and outside `skip` subtrees.
    `data-label-*` attributes count: scripts show them (realtime.js's badge, announcements.js)."""

    ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "data-empty", "value")
    VOID = {"input", "br", "img", "link", "meta", "hr", "source"}

    def __init__(self, skip: str = "data-no-such-attribute") -> None:
        super().__init__()
        self.skip, self.depth, self.hidden_depth, self.quiet = skip, 0, None, 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self.quiet += 1
        if tag not in self.VOID:
            self.depth += 1
            if self.hidden_depth is None and self.skip in attrs:
                self.hidden_depth = self.depth
        if self.hidden_depth is None:
            shown = [a for a in self.ATTRIBUTES if a != "value" or attrs.get("type") in ("submit", "button")]
            self.found += [attrs[a] for a in shown if attrs.get(a)]
            self.found += [v for a, v in attrs.items() if a.startswith("data-label-") and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.quiet -= 1
        if tag not in self.VOID:
            if self.hidden_depth == self.depth:
                self.hidden_depth = None
            self.depth -= 1

    def handle_data(self, data):
        if not self.quiet and self.hidden_depth is None and data.strip():
            self.found.append(data.strip())


def english_left(strings: list[str]) -> list[str]:
    """The page's strings that contain a literal part (4+ letters) of an English msgid.

    A part of several words counts wherever it is; a lone word ("Send", "Test") only when it is the
    whole string, as on a button or a badge: inside a sentence it is someone's content ("Test t-zh")."""
    pieces = {
        piece.strip(" .,:;…")
        for msgid in english_msgids()
        for piece in re.split(r"%\(\w+\)[sd]|<[^>]+>", msgid)
    }
    pieces = {p for p in pieces if len(re.sub(r"[^A-Za-z]", "", p)) >= 4}
    phrases = {p for p in pieces if re.search(r"\W", p)}
    words = pieces - phrases
    return [s for s in strings if s.strip(" .,:;…") in words] + [
        s for s in strings for p in phrases if re.search(rf"(?<![A-Za-z]){re.escape(p)}(?![A-Za-z])", s)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_the_stream_page_in_chinese_has_no_english_left(client, stream, alice, who):
    stream.title = "发布会"  # user content: not the catalogue's business
    stream.save()
    stream.owner.username = "zhubo"
    stream.owner.save()
    if who == "alice":
        client.force_login(alice)
    html = client.get(
        reverse("watch", args=[stream.slug]), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9"
    ).content.decode()
    assert '<html lang="zh-hans">' in html
    # The broadcast banner's markup (hidden until a broadcast) included: its close button is named.
    parser = VisibleText()
    parser.feed(html)
    assert 'data-rt-banner-close aria-label="关闭"' in html
    languages = {"English", "简体中文"}  # a language menu names each language in itself
    strings = [s for s in parser.found if s not in languages]
    assert english_left(strings) == []
    assert any("弹幕设置" in s for s in strings) and any("实时聊天" in s for s in strings)
    words = re.search(r"<script type=\"application/json\" data-rt-texts>(.*?)</script>", html, re.S).group(1)
    assert (
        "慢速模式已开启：%(seconds)s 秒后可以再发。"
        in words.encode().decode("unicode_escape").encode("latin-1").decode()
    )


@pytest.mark.django_db
def test_the_language_menu_switches_language_and_the_page_says_which(client):
    english = client.get(reverse("home")).content.decode()
    assert '<html lang="en">' in english and "Pick a stream" in english
    assert (
        'action="/i18n/setlang/"' in english
        and '<option value="zh-hans" lang="zh-hans">简体中文</option>' in english
    )
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    chinese = client.get(reverse("home")).content.decode()
    assert '<html lang="zh-hans">' in chinese and "选择一个直播，边看边聊。" in chinese
    assert english_left(["选择一个直播，边看边聊。"]) == []


def chinese_page_strings(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [s for s in parser.found if s not in {"English", "简体中文"}]


@pytest.mark.django_db
def test_the_demo_pages_and_the_connection_badge_in_chinese_have_no_english_left(client, alice):
    chinese = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
    login = client.get(reverse("login"), **chinese).content.decode()
    assert "<h1>登录</h1>" in login and ">用户名</label>" in login and ">密码</label>" in login
    assert english_left(chinese_page_strings(login)) == []
    client.force_login(alice)
    home = client.get(reverse("home"), **chinese).content.decode()
    badge = re.search(r"<span[^>]*data-realtime-badge[^>]*>[^<]*</span>", home, re.S).group(0)
    # realtime.js shows these words in each state; the template renders them in the page's language.
    for state, word in {
        "connecting": "正在连接…",
        "live": "已连接",
        "reconnecting": "正在重新连接…",
        "offline": "离线",
        "signed-out": "已退出登录",
        "auth-failed": "未登录",
        "policy": "已暂停",
        "too-many-connections": "打开的标签页过多",
    }.items():
        assert f'data-label-{state}="{word}"' in badge
    assert badge.endswith(">正在连接…</span>")
    strings = chinese_page_strings(home)
    assert english_left(strings) == [] and "已连接" in strings
    english = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-label-live="Live"' in english and 'data-label-signed-out="Signed out"' in english


@pytest.mark.django_db
def test_announcements_speak_chinese_on_the_page_in_the_admin_and_in_errors(client, alice):
    from django.contrib import admin as django_admin
    from django.core.exceptions import ValidationError

    from realtime.announcements import announce
    from realtime.announcements.admin import AnnouncementAdmin
    from realtime.announcements.apps import AnnouncementsConfig
    from realtime.announcements.forms import AnnouncementForm
    from realtime.announcements.models import Announcement, Audience, Level, State

    announce("停机维护", body="今晚十点。", link="https://example.com/x", level="warning")
    html = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "停机维护" in html and ">了解详情</a>" in html and 'aria-label="关闭"' in html
    assert 'aria-label="公告"' in html and 'data-label-test="测试"' in html
    assert english_left(chinese_page_strings(html)) == []

    with translation.override("zh-hans"):
        assert str(AnnouncementsConfig.verbose_name) == "公告"
        assert str(Announcement._meta.verbose_name) == "公告"
        assert str(Announcement._meta.get_field("starts_at").verbose_name) == "开始时间"
        assert str(Announcement._meta.get_field("body").help_text) == "纯文本；按原样显示，不作为 HTML。"
        assert str(Level.CRITICAL.label) == "紧急" and str(State.LIVE.label) == "展示中"
        assert str(Audience.SIGNED_IN.label) == "已登录用户"
        model_admin = AnnouncementAdmin(Announcement, django_admin.site)
        assert [str(name) for name, _ in model_admin.get_fieldsets(None)] == ["消息", "受众", "时间"]
        assert str(AnnouncementForm().fields["level"].label) == "级别"
        notice = Announcement(title="x", starts_at=None, ends_at=None, audience=Audience.GROUPS)
        with pytest.raises(ValidationError) as refused:
            from realtime.announcements.audience import validate_choices

            validate_choices(notice.audience, [], [])
        assert refused.value.message_dict == {"groups": ["请至少选择一个用户组。"]}
