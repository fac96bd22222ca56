"""The auto-heal daemon: a face of the application layer that nobody has to be awake for.

Role: probe every host on a schedule, diagnose the ones that look sick, and run their incidents through
remediator.app under per-host policies (auto / approve / observe) and limits (cooldown, per-host budget and
quarantine, fleet budget, circuit breaker, maintenance windows, pause), with approvals and status over a
local HTTP API, Prometheus metrics, webhooks and systemd's notify protocol.
Must not: heal anything itself (remediator.app does), import click or rich.
"""
