"""A session's timeline: its draft read into one model, whatever its shape, and told in words.

    model     ``Timeline`` (from a state payload) and its summary, readiness and track views
    tracks    tracks and segments, and how each is described
    read      unwrapping a state payload and reading the draft in each shape
    draft_v3  the Draft Protocol V3 document, read safely
    fields    the aliases a draft's parts are read under, and the type words
    values    reading loose values (times, labels, volumes, ratios) and writing them back
    diff      what changed between two reads of a state, in words

Pure: no I/O. Nothing here raises on odd input.
"""
