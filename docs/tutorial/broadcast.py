from realtime import broadcast

broadcast("broadcast.all", "broadcast", {"title": "Hello", "message": "from the shell"})
