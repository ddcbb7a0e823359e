"""Real media for the emulator: renders of drafts to MP4, probing, and synthetic test media.

``encode`` (a draft to an MP4: :func:`~nemo_mcp.emulator.render.encode.render_draft`),
``compose`` (which segment shows when, transitions), ``sources`` (images, clips, colours,
generated visuals), ``titles``, ``audio`` (the mix and the levels visuals follow), ``pixels``,
``queue`` (render jobs in worker threads), ``media`` (probing, decoding, tempo) and ``synth``
(songs, photos and clips made from nothing, for demos and tests).
"""
