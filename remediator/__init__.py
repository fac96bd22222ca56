"""remediator: an automated remediation operator for Docker hosts wedged by containerd state."""

__version__ = "0.1.0"
