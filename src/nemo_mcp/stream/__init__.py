"""The agent's stream, condensed: SSE bytes in; events, turn summaries and progress notes out.

    sse        an incremental, size-capped SSE decoder, and an idle-timed frame reader
    events     frames in every dialect (ADK camelCase / snake_case, typed) as typed events
    condenser  one turn's events folded into the reply, the steps, the errors, the question
    question   the agent's questions (``ask_question``): their text and options
    gui        the agent's GUI phrasing ("click Export") rewritten for the face in use

Pure: no I/O, and no clock but what the caller passes in (``iter_frames`` only uses the event
loop's timer for its idle timeout).
"""
