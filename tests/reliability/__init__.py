"""Reliability suite: real processes racing on real stores, kill -9 crashes and hostile input."""
