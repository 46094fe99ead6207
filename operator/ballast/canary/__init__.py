"""Canary analysis: counters scraped from a version's serving pods, turned into a window's
error rate, p99 latency and feedback accuracy, and judged against limits and Production."""
