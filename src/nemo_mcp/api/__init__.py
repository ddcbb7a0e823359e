"""The NemoVideo API client: every endpoint of the contract, over one ``httpx.AsyncClient``.

    client       NemoClient: one method per endpoint
    transport    the one request loop: token, headers, retries, errors
    retry        the retry policy, as small pure decisions
    failures     where transport failures become errors
    answers      reading answers: bounded size and depth, the error an answer stands for
    records      the typed answers, and their readers
    auth         which bearer token to send; anonymous tokens
    attribution  the X-Skill-* headers: which skill calls, from where
    downloads    rendered files: streamed, resumed, bounded, atomic
    netguard     which hosts a download may reach
    wire         httpx's transport, reading the network in larger pieces

It knows the wire (``nemo_mcp.contract``) and the store (tokens), nothing of MCP or terminals.
"""
