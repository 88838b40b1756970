"""Live transcription: call audio over AudioSocket, a speech engine per leg, text as events."""
