"""Signals of the notifications feature, sent inside the storing transaction (like `post_save`): a
receiver that sends an e-mail or a push should defer it with `transaction.on_commit`."""

from __future__ import annotations

from django.dispatch import Signal

#: `notify()` stored notifications. Sent with sender=Notification, notifications=[Notification, ...]
#: (one per recipient, pks set).
notification_sent = Signal()

#: A user read notifications (a page, the list, or `mark_read()`). Sent with sender=Notification,
#: user_id=<int>, ids=[<the ids newly marked read>], unread=<the user's unread count after it>.
notifications_read = Signal()
