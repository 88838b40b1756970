"""The web transport: the aiohttp app, its routes, security, sockets and the hub. It reads the floor
and the case services; nothing below it imports it."""
