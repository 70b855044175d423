"""One history read per cold room at a time.

Why: a storm of viewers into a room whose cache of recent events is cold (a new room, or one whose
cache a gap emptied) would each read the same history from the database at once; profiled, those reads
were the largest share of a connect storm's database time. Instead the first subscriber reads and seeds
the cache, the others wait for it and then answer from the cache. They never take the first one's
result: that read may predate their joining the room, and so miss events published in between, which
the cache (fed by the live feed) has.
"""

from __future__ import annotations

import asyncio


class Warmup:
    __slots__ = ("reading",)

    def __init__(self) -> None:
        self.reading: asyncio.Future | None = None  # the read in progress that will seed the cache

    async def wait(self) -> None:
        """Return once no read that will seed the cache is in progress."""
        if self.reading is not None:
            await asyncio.wait([self.reading])

    def start(self) -> asyncio.Future | None:
        """A read that will seed the cache begins: its token for `done` (None if one is running)."""
        if self.reading is not None:
            return None
        self.reading = asyncio.get_running_loop().create_future()
        return self.reading

    def done(self, token: asyncio.Future | None) -> None:
        """That read is over (seeded, failed or abandoned): its waiters go on."""
        if token is not None:
            if self.reading is token:
                self.reading = None
            token.set_result(None)
