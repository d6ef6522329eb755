"""Access control: roles, privileges, grants and the one authorization point."""
