"""Read-only knowledge about a host: its effective facts and the failure signatures in its log.

Must not: change anything on a host.
"""
