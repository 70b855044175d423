"""The words of notifications.js, in the active language, with their plural forms.

The page knows the count, the server knows the translations: the server renders the sentence for a few
sample counts (chosen so each plural category of the common languages appears), and the page maps each
sample to its category with `Intl.PluralRules` and so finds the form for any count. Plural forms stay
in the .po files (`ngettext`), where translators expect them.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, ngettext

#: 0 (zero, Arabic), 1 (one), 2 (two), 3 and 5 (few, many: Slavic, Arabic), 11, 21, 22, 100, 101, 102.
SAMPLES = (0, 1, 2, 3, 5, 11, 21, 22, 100, 101, 102)


def unread_sentence(count: int) -> str:
    """ "You have 3 new notifications", or that there are none."""
    if count == 0:
        return gettext("No new notifications")
    return ngettext("You have %(count)s new notification", "You have %(count)s new notifications", count) % {
        "count": count
    }


def client_texts() -> dict[str, Any]:
    return {
        "unread": {
            str(n): ngettext("You have %(count)s new notification", "You have %(count)s new notifications", n)
            for n in SAMPLES
        },
        "none": gettext("No new notifications"),
        "empty": gettext("Nothing here yet."),
        "mark_read": gettext("Mark as read"),
    }
