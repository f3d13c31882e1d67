"""The session engine: pure asyncio, no IPython or widget imports."""
