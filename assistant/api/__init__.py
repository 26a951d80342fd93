"""The HTTP surface: JSON, Server-Sent Events and an OpenAI-compatible endpoint."""
