"""The Channels tutorial chat server (docs "Tutorial Part 3"), used as the benchmark's baseline."""
