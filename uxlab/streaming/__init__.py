"""Framework-free timing of synthetic and replayed token streams: tokens, schedules, pacing, traces."""
