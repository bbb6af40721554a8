"""Organizations: the tenants. Every other row belongs to one."""
