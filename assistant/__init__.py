"""The grounded fibromyalgia assistant: triage, retrieval, composition, verification, hedging, HTTP."""
