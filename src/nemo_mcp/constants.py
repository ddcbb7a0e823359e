"""Every tunable number in one place: timeouts, poll intervals, retry policy and size caps.

Nothing else in the package should carry a bare timeout or limit literal; import it from here.
"""

from __future__ import annotations

# --- HTTP -------------------------------------------------------------------------------------
CONNECT_TIMEOUT = 10.0  # seconds to open a TCP/TLS connection
READ_TIMEOUT = 60.0  # seconds of silence tolerated on an ordinary (non-stream) response
WRITE_TIMEOUT = 60.0  # seconds for one chunk of an upload to be accepted
POOL_TIMEOUT = 10.0
MAX_CONNECTIONS = 20

# Retry policy for requests that are safe to repeat (GETs, and POSTs that provably never left).
MAX_RETRIES = 2  # => three attempts in all
RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 8.0
RETRY_JITTER = 1.0
RETRY_AFTER_CAP = 60.0  # a Retry-After above this is reported, not slept through
RATE_LIMIT_RETRY_DELAY = 30.0  # the contract: "429 -> retry in 30 s, once"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error answer's body is read up to this much, never echoed
UPLOAD_READ_TIMEOUT = 300.0  # the server probes uploaded media before it answers
MAX_REDIRECTS = 5  # download redirects, followed by hand (the token only goes to the API host)
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # an ordinary (non-stream) answer, the session state included
MAX_JSON_DEPTH = 64  # lists/objects nested deeper than this in an answer are refused
MAX_STORED_STATE_BYTES = 4 * 1024 * 1024  # a session's last state kept in the store (else trimmed)

# --- Chat turns (POST /run_sse) ---------------------------------------------------------------
TURN_MAX_SECONDS = 15 * 60.0  # the contract's --max-time 900
TURN_IDLE_SECONDS = 10 * 60.0  # "10 min heartbeats-only -> assume timeout"
TURN_SOCKET_READ_TIMEOUT = 120.0  # silence on the socket itself (no bytes, not even heartbeats)
STILL_WORKING_EVERY = 120.0  # "Every 2 min: 'Still working...'"
PROGRESS_EVERY = 10.0  # at least one progress event this often while the backend works (<= 15 s)
MAX_SSE_LINE_BYTES = 1024 * 1024  # one SSE line
MAX_SSE_EVENT_BYTES = 4 * 1024 * 1024  # one event's joined data
MAX_REPLY_CHARS = 20_000  # untrusted agent text is capped before it reaches a model
PROGRESS_NOTE_MIN_INTERVAL = 1.0  # streamed-text progress notes are rate limited to 1/s
MAX_TURN_STEPS = 50  # agent steps kept per turn (consecutive repeats are folded anyway)
MAX_TURN_ERROR_CHARS = 500  # one error message from the stream, after cleaning

# Disconnect recovery (contract 7.10): wait 30 s, then re-read state every 60 s, 5 unchanged reads.
RECOVERY_FIRST_WAIT = 30.0
RECOVERY_NEXT_WAIT = 60.0
RECOVERY_MAX_UNCHANGED = 5

# --- Messages to the editing agent -----------------------------------------------------------
MAX_MESSAGE_CHARS = 4000  # one chat message
DUPLICATE_WINDOW = 10 * 60.0  # the same message to the same session within this is not resent
OTHER_PROCESS_POLL = 0.5  # how often a turn run by another process is looked up while waited on
TURN_LEASE_SECONDS = 60.0  # a running turn's claim lasts this long unless its owner renews it

# --- Credits (estimates: NemoVideo prices a request by what its agent ends up doing) -----------
ANONYMOUS_START_CREDITS = 100  # a fresh anonymous token's balance
GENERATION_CREDITS = 100  # about what generating a video or a track costs
EDIT_CREDITS = 50  # about what one edit costs
CREDITS_NOTE_TIMEOUT = 10.0  # a balance read for a result's note gives up after this long

# --- What a model reads -----------------------------------------------------------------------
MAX_QUOTED_REPLY_CHARS = 1200  # the agent's reply as quoted in a result's text (all of it: data)
MAX_QUOTED_QUESTION_CHARS = 600

# --- Renders ----------------------------------------------------------------------------------
# A render being polled is leased in the store by the process polling it; it renews the lease
# every third of this. A worker that dies loses it: another takes the render over within this
# (at once when the dead holder was a process on the same machine).
RENDER_LEASE_SECONDS = 15.0
RENDER_POLL_INTERVAL = 10.0  # the contract documents 10-30 s; 10 s gives finer progress
RENDER_POLL_MIN_INTERVAL = 0.2  # floor when an emulator/test shortens the interval
RENDER_MAX_SECONDS = 30 * 60.0  # give up waiting (the job is kept and can be resumed)
RENDER_POLL_ERRORS_TOLERATED = 5  # transient poll errors in a row before giving up
SUBMIT_SHIELD_SECONDS = 20.0  # a render submit is not interrupted by a cancel for this long

# --- Command line ---------------------------------------------------------------------------
HANDLE_GRACE = 30.0  # seconds a command waits for a job's request to go out before handing its id
DOCTOR_API_TIMEOUT = 5.0  # doctor's reachability check
DOCTOR_ACCOUNT_TIMEOUT = 20.0  # doctor's token/credits check

# --- Tool calls -------------------------------------------------------------------------------
DEFAULT_WAIT_BUDGET = 45.0  # seconds a tool call waits before returning a handle (< 60 s caps)
MAX_WAIT_BUDGET = 14 * 60.0

# --- Files ------------------------------------------------------------------------------------
CHUNK_SIZE = 1024 * 1024  # streamed upload/download chunk
SNIFF_BYTES = 64  # bytes read to recognise a media container
DOWNLOAD_MAX_RESUMES = 5  # failed attempts in a row; reset only when the file grows past its best
DOWNLOAD_MAX_ATTEMPTS = 30  # attempts in all, however much each one brought
DOWNLOAD_MAX_SECONDS = 60 * 60.0  # one download, all attempts included
MAX_DOWNLOAD_BYTES = 4 * 1024**3  # a rendered MP4 larger than this is refused (announced or sent)
STALE_PART_SECONDS = 2.0  # an unlocked temporary download file this old was left by a crash
DEFAULT_UPLOAD_LIMIT_MB = 500
MAX_POSTER_BYTES = 512 * 1024

# --- Anonymous token --------------------------------------------------------------------------
TOKEN_REFRESH_MARGIN = 3600.0  # treat a token as expired this many seconds early
TOKEN_LOCK_TIMEOUT = 120.0  # how long a second process waits for the first one's token request
ANON_TOKEN_LIFETIME = 7 * 24 * 3600.0  # when the server does not say

# --- State store ------------------------------------------------------------------------------
STORE_BUSY_TIMEOUT = 10.0  # seconds a write waits for another process's write to finish
TURN_PREVIEW_CHARS = 200  # a turn record keeps this much of the user's message
