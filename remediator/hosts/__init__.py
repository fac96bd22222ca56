"""The Host port: the only way the upper layers reach a machine (LocalHost now, SshHost later).

Must not: be bypassed. Nothing above hosts/ imports `sh`, `subprocess` or `docker`.
"""
