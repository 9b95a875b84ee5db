"""Department queues: officers' presence, callers waiting in line, callbacks that keep a place."""
