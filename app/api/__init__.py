"""The service: pydantic schemas with limits, thin routes, the streaming protocol."""
