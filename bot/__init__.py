"""Shop customer-service assistant: runtime services, shop backend, NLU parts and tools."""
