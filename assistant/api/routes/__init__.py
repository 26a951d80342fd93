"""One router per surface; `assistant.api.app` includes them all."""
