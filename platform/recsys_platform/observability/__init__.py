"""Logs, metrics, traces and health endpoints shared by every service."""
