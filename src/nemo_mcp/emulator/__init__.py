"""A local emulator of the NemoVideo backend: the whole wire contract on a real socket.

Like LocalStack or stripe-mock, it lets the client, the MCP server and the CLI run and be tested
offline: anonymous tokens and their limits, sessions, streamed multipart uploads probed with
PyAV, credits, session state with a timeline draft, a rule-based chat agent behind ``/run_sse``
(every stream dialect, heartbeat form, error frame and failure mode of the contract), and real
MP4 renders of the draft with Range downloads.

    from nemo_mcp.emulator import EmulatorServer

    with EmulatorServer(generation_seconds=0.2) as emu:
        ...  # point NEMO_API_URL at emu.url

Rooms:

- ``app`` (the route table, :func:`create_app`), ``core`` (:class:`Emulator`), ``endpoint``
  (request plumbing: the request log, fault injection, errors as envelopes), ``endpoints/`` (one
  module per area: account, sessions, chat, renders, web, control), ``envelope``, ``http``
  (connections, Range downloads, breaking them), ``sse`` (stream dialects);
- ``state`` with ``records`` and ``accounts`` (what the emulator remembers, saved as JSON),
  ``config`` (settings, stream variants), ``faults`` (the fault grammar), ``uploads``;
- ``agent/`` (the chat agent: intents, plans, generation and edit steps), ``turns`` (running a
  turn and streaming it), ``draft`` (the draft format and its segment fields), ``draft_shapes``
  (the draft as handed out: JSON, labels in metadata, or Draft Protocol V3, and back);
- ``render/`` (real MP4 renders, the render queue, probing, synthetic songs, photos and clips);
- ``server`` (:class:`EmulatorServer`), ``cli`` (``nemo-mcp emulator``).

The emulator speaks the contract from :mod:`nemo_mcp.contract`, like the client; of the rest of
the product it imports only the pure ``constants`` and ``addresses``.

Draft segment fields (see ``draft.py``): tracks ``{"tt", "n", "role", "sg"}``; segments ``s``
(start, ms), ``d`` (duration, ms), ``type`` (image / video / color / visual / audio / text),
``src`` (media URL), ``mid`` (media id), ``name``, ``in`` (source in-point, ms), ``vol``
(0-100), ``fi`` / ``fo`` (audio fades, ms), ``fx`` ("kenburns"), ``tr`` / ``trd``
(transition in and its ms), ``fit``, ``text`` / ``pos`` / ``size`` / ``color`` (titles),
``style`` / ``hue`` (generated visuals); draft ``d`` (ms) and ``m`` (title, width, height, fps,
ratio, bg).
"""

from __future__ import annotations

from nemo_mcp.addresses import is_loopback
from nemo_mcp.emulator.app import create_app
from nemo_mcp.emulator.config import EmulatorConfig, StreamSpec, parse_stream_spec
from nemo_mcp.emulator.core import Emulator
from nemo_mcp.emulator.faults import Fault
from nemo_mcp.emulator.server import EmulatorServer

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Fault",
    "StreamSpec",
    "create_app",
    "is_loopback",
    "parse_stream_spec",
]
