"""Seeing a node run: metrics, health and readiness, structured logs, start-up checks."""
