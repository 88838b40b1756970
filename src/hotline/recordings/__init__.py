"""Call recordings: MixMonitor's files, the pydub archive copy, retention, playback."""
