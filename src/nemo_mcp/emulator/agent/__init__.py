"""The emulator's editing agent: a deterministic, rule-based stand-in for NemoVideo's.

It understands, in English and Chinese:

- a music video synced to an uploaded song ("music video", "MV", 音乐视频, 卡点);
- a promo video of N seconds from uploaded photos (and a voiceover) with transitions
  ("promo", "turn these photos ... into a video", 宣传视频);
- an N-second background track from a mood prompt ("background music", "BGM", 背景音乐), synthesised
  as a real MP3;
- edits: add a title "X" from a to b seconds (添加标题), set the background-music volume to N%
  (背景音乐音量), trim to N seconds (裁剪), change the aspect ratio 16:9 / 9:16 / 1:1 (比例);
- "export", "status", and anything else (a helpful reply listing what it can do).

With ``agent_questions`` on, it asks instead of guessing, as NemoVideo's agent can: a promo with
no aspect ratio, or an aspect change without one, becomes an ``ask_question`` call (long-running,
with the question and its options) and the turn stops; the next message answers it (a ratio in
it resumes the request it was about).

:func:`plan_turn` turns a message into a :class:`Plan`: tool steps (each a function call, some
real work in a worker thread, and a function response whose ``stateDelta`` carries the change)
followed by a final text written for a GUI ("preview it in the timeline", "click Export").
"""

from nemo_mcp.emulator.agent.intents import number, parse_message
from nemo_mcp.emulator.agent.plan import QUESTION_TOOL, plan_turn, run_step, silent_by_hash
from nemo_mcp.emulator.agent.workspace import Plan

__all__ = [
    "QUESTION_TOOL",
    "Plan",
    "number",
    "parse_message",
    "plan_turn",
    "run_step",
    "silent_by_hash",
]
