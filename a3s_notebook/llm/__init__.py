"""The LLM layer: message and usage types, the provider protocol, and the providers."""
