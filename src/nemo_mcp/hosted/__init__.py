"""Hosted mode: one nemo-mcp for a whole team (``nemo-mcp serve --http --hosted``).

    options   its settings, from the environment
    auth      who is calling: NemoVideo tokens passed through, or an identity provider's JWTs
    studios   one studio per user over the shared store; the sweep that resumes orphaned renders
    server    the worker: authenticated MCP endpoint, /healthz /readyz /metrics, shutdown
    metrics   Prometheus metrics
    logs      JSON logs

Any number of workers share one PostgreSQL database (``nemo_mcp.store.postgres``).
"""
