"""The words the stream page's JavaScript shows, from Django's catalogue in the viewer's language.

`{% realtime_stream %}` renders `client_texts()` as JSON in the page; stream-view.js,
danmaku-controls.js and stream-sync.js take every word they show from it, so nothing on the page is
left in English for a viewer who reads Chinese. Placeholders are `%(name)s`, filled in by the script.

Every error code a viewer can meet has an `error.<code>` text: the server's own `message` is for
developers (and English), so the page never shows it. `<key>.wait` variants say how long to wait when
the error carries `retry_after`; `reaction.<code>` are the shorter words of the reaction bar.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import pgettext


def error_texts() -> dict[str, str]:
    """`error.<code>` for every code of docs/protocol.md, the stream feature, the replay read and the
    client's own (offline, timeout, ...)."""
    return {
        "error.unknown": _("Something went wrong. Please try again."),
        # The protocol (realtime core).
        "error.bad_json": _("The app sent something the server could not read. Reload the page."),
        "error.bad_message": _("The app sent an incomplete request. Reload the page."),
        "error.unknown_type": _("The app sent a request the server does not know. Reload the page."),
        "error.frame_too_large": _("That was too much to send at once."),
        "error.unknown_topic": _("This page asked for something that does not exist."),
        "error.not_found": _("This stream no longer exists."),
        "error.auth_required": _("Log in to do that."),
        "error.auth_failed": _("Your sign-in could not be checked. Reload the page."),
        "error.forbidden": _("You are not allowed to do that."),
        "error.not_subscribed": _("Not connected to this stream yet; try again in a moment."),
        "error.too_many_subscriptions": _("Too many live pages are open in this tab."),
        "error.too_many_connections": _("Too many tabs are connected at once. Close some and reload."),
        "error.publish_not_allowed": _("That cannot be sent here."),
        "error.internal_error": _("The server failed to handle that. Please try again."),
        "error.unavailable": _("The server is having trouble. Try again in a moment."),
        "error.unavailable.wait": _("The server is having trouble. Try again in %(seconds)s s."),
        "error.rate_limited": _("You're posting too fast. Wait a moment."),
        "error.rate_limited.wait": _("You're posting too fast. Try again in %(seconds)s s."),
        "error.too_many_in_flight": _("Your earlier messages are still being sent. Wait a moment."),
        "error.kicked": _("You were removed from this stream."),
        "error.bad_receipt": _("That could not be recorded."),
        "error.bad_status": _("That status cannot be shown here."),
        "error.bad_read": _("Those notifications could not be marked as read. Reload the page."),
        # Live streams.
        "error.slow_mode": _("Slow mode is on. Wait a moment before posting again."),
        "error.slow_mode.wait": _("Slow mode is on: you can post again in %(seconds)s s."),
        "error.muted": _("You are muted in this stream."),
        "error.timed_out": _("You are timed out in this stream."),
        "error.target_is_moderator": _("Moderators cannot restrict each other."),
        "error.not_restricted": _("That restriction was already lifted or has ended."),
        "error.banned": _("You are banned from this stream."),
        "error.comments_closed": _("Comments are closed."),
        "error.stream_ended": _("This stream has ended."),
        "error.text_empty": _("Write something first."),
        "error.text_too_long": _("That comment is too long."),
        "error.blocked_term": _("That comment contains a word that isn't allowed here."),
        "error.bad_color": _("Pick one of the colours offered."),
        "error.bad_mode": _("Pick one of the display modes offered."),
        "error.bad_reaction": _("That reaction isn't available."),
        "error.comment_not_found": _("That comment is already gone."),
        "error.user_not_found": _("That user no longer exists."),
        "error.bad_request": _("The replay could not be loaded. Reload the page."),
        # The browser client's own (realtime.js).
        "error.offline": _("You're offline; this was not sent."),
        "error.connection_lost": _(
            "The connection dropped before the server confirmed that. Check whether "
            "it took effect before trying again."
        ),
        "error.timeout": _("The server didn't answer in time. Try again."),
        "error.unsubscribed": _("This stream was closed on this page before that was sent."),
        "error.closed": _("The connection is closed. Reload the page."),
        "error.ticket_unavailable": _("Could not get permission to connect. Reload the page."),
        "error.signed_out": _("You were signed out. Log in again to comment."),
    }


def moderation_texts() -> dict[str, str]:
    """The moderators' tools, panel and dialog (stream-moderation.js), and a restricted viewer's line."""
    return {
        "moderate.hide": _("Hide"),
        "moderate.restore": _("Restore"),
        "moderate.delete": _("Delete"),
        "moderate.mute": _("Mute"),
        "moderate.unmute": _("Unmute"),
        "moderate.timeout": _("Time out…"),
        "moderate.untimeout": _("End timeout"),
        "moderate.ban": _("Ban…"),
        "moderate.unban": _("Unban"),
        "notice.hidden": _("Comment hidden; restore it from Hidden comments."),
        "notice.restored": _("Comment restored."),
        "notice.muted": _("Muted %(user)s until a moderator unmutes them."),
        "notice.timed_out": _("Timed out %(user)s until %(time)s."),
        "notice.banned": _("Banned %(user)s."),
        "notice.unmute": _("Unmuted %(user)s."),
        "notice.untimeout": _("Ended %(user)s's timeout."),
        "notice.unban": _("Unbanned %(user)s."),
        "dialog.timeout.title": _("Time out %(user)s"),
        "dialog.timeout.text": _(
            "They can keep watching, but cannot comment or react until the timeout ends."
        ),
        "dialog.timeout.confirm": _("Time out"),
        "dialog.ban.title": _("Ban %(user)s from this stream?"),
        "dialog.ban.text": _(
            "They are removed from this stream at once and cannot watch or comment until a moderator unbans them."
        ),
        "dialog.ban.confirm": _("Ban"),
        "restriction.mute": _("Muted"),
        "restriction.mute.until": _("Muted until %(time)s"),
        "restriction.timeout": _("Timed out"),
        "restriction.timeout.until": _("Timed out until %(time)s"),
        "restriction.ban": _("Banned"),
        "restriction.ban.until": _("Banned until %(time)s"),
        "restriction.reason": _("Reason: %(reason)s"),
        "restriction.by": _("by %(user)s at %(time)s"),
        "restriction.someone": _("a moderator"),
        "standing.mute": _("You are muted in this stream."),
        "standing.mute.until": _("You are muted in this stream until %(time)s."),
        "standing.timeout": _("You are timed out in this stream."),
        "standing.timeout.until": _("You are timed out until %(time)s."),
        "standing.ban": _("You are banned from this stream."),
        "standing.ban.until": _("You are banned from this stream until %(time)s."),
        "standing.reason": _("Reason: %(reason)s"),
        "standing.history": _("The comments posted before the ban are still listed."),
        "standing.lifted": _("You can comment again."),
    }


def client_texts() -> dict[str, str]:
    """Every word of the stream page's scripts, translated into the active language."""
    return {
        **error_texts(),
        "reaction.rate_limited": _("Too many reactions. Wait a moment."),
        "reaction.rate_limited.wait": _("Too many reactions: wait %(seconds)s s."),
        "reaction.offline": _("Offline: not sent."),
        "reaction.connection_lost": _("Connection lost: not sent."),
        "reaction.timeout": _("No answer: not sent."),
        # The connection to the chat, worded apart from the stream's own state.
        "connection.connecting": _("Connecting to chat…"),
        "connection.live": _("Chat connected"),
        "connection.reconnecting": _("Reconnecting to chat…"),
        "connection.offline": _("Chat offline"),
        "connection.offline.signed_out": _("Signed out"),
        "connection.offline.auth_failed": _("Not signed in"),
        "connection.offline.policy": _("Chat paused"),
        "connection.offline.closed": _("Chat closed"),
        "connection.offline.banned": _("Chat closed to you (banned)"),
        "stream.live": pgettext("stream state", "Live"),
        "stream.ended": pgettext("stream state", "Ended"),
        "stream.replay": pgettext("stream state", "Replay"),
        "viewers.unknown": _("Viewer count unknown while disconnected"),
        "hint.ended": _("This stream has ended."),
        "hint.replay": _(
            "This stream has ended. Comments appear at the moment of the video they were posted at."
        ),
        "hint.closed": _("Comments are closed."),
        "hint.slow_mode": _("Slow mode: one comment every %(seconds)s s."),
        "hint.truncated": _("Some messages were skipped while you were away."),
        "comment.you": _("you"),
        "comment.sending": _("sending…"),
        "comment.queued": _("will send when reconnected"),
        "form.send": _("Send"),
        "form.wait": _("Wait %(seconds)s s"),
        **moderation_texts(),
        "announce.new": _("New comments: %(count)s"),
        "announce.mention": _("%(author)s mentioned you: %(text)s"),
        "fullscreen.enter": _("Full screen"),
        "fullscreen.exit": _("Exit full screen"),
    }
