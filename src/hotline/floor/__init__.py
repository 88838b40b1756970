"""The live floor, without aiohttp: calls in progress, desktops, the interpreter view, the board,
the wallboard and supervision. The web hub implements its notifier port."""
