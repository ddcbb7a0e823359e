"""The NemoVideo wire contract, said once: what the client sends and reads, what the emulator
answers.

The client (``nemo_mcp.api``) and the emulator (``nemo_mcp.emulator``) both import these
modules and nothing else of each other, so the two cannot disagree about a path, a header, a
code or a field name. Where the backend is known to use several shapes (two envelopes, three
render-poll shapes, camelCase and snake_case stream events), the emulator builds each one from
the builders here and the client reads every one with the field names here; a round-trip test
checks that whatever the emulator builds, the client reads.

    paths      endpoint paths (ids escaped into one segment each) and id syntax
    headers    header names, the attribution headers, the bearer header
    codes      envelope codes and the HTTP status each one comes with
    envelopes  ``{"code": 0, "data"}`` / ``{"success": true, "data"}``: built and unwrapped
    values     reading loosely typed wire values (numbers as text, epoch seconds or ms)
    account    anonymous tokens, sessions, credits, claim links
    media      media kinds, file extensions, MIME types
    uploads    multipart and by-URL uploads, and the file entries that come back
    stream     the ``/run_sse`` request and the fields of its events (ADK camelCase and
               snake_case, the typed dialect, heartbeats, error frames)
    renders    render states, the submit body and the render-poll shapes
    draft      the draft's short keys, track types and the export-readiness rule

Nothing here performs I/O or imports anything above it.
"""
