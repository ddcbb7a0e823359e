"""The names a draft's parts are read under: every alias, and the words that mean a type.

Nothing about segments is documented beyond the short keys (``contract.draft``), so every other
field is looked up through aliases, at a segment's top level and one level down in its metadata
(``META_KEYS``). Backends also put bare type words where a name belongs (``PLACEHOLDERS``): those
are never shown as if they were names.
"""

from __future__ import annotations

from typing import Final

from nemo_mcp.contract.draft import (
    DURATION,
    META,
    SEGMENTS,
    TRACK_AUDIO,
    TRACK_TEXT,
    TRACK_TYPE,
    TRACK_VIDEO,
    TRACKS,
)

LABEL_CHARS: Final = 60
MAX_SUMMARY_TRACKS: Final = 12
MAX_LABELS_PER_TRACK: Final = 3
MAX_TRACKS: Final = 500
MAX_SEGMENTS: Final = 5000
MAX_META_JSON: Final = 65_536  # metadata given as a JSON string is parsed up to this size

DURATION_KEYS: Final = (DURATION, "dur", "duration", "duration_ms", "durationMs", "len", "length")
START_KEYS: Final = (
    "s",
    "st",
    "start",
    "start_ms",
    "startMs",
    "start_time",
    "startTime",
    "ts",
    "offset",
    "begin",
)
END_KEYS: Final = ("e", "et", "end", "end_ms", "endMs", "end_time", "endTime", "te")
NAME_KEYS: Final = (
    "name",
    "title",
    "label",
    "nm",
    "display_name",
    "displayName",
    "filename",
    "file_name",
    "fileName",
    "desc",
    "description",
)
TEXT_KEYS: Final = ("text", "content", "txt", "tx", "caption", "subtitle", "value")
SRC_KEYS: Final = (
    "src",
    "url",
    "uri",
    "path",
    "file",
    "source",
    "media_url",
    "mediaUrl",
    "video_url",
    "videoUrl",
    "audio_url",
    "audioUrl",
    "image_url",
    "imageUrl",
)
VOLUME_KEYS: Final = ("volume", "vol", "gain", "vl")
# Where a segment's (or a track's) metadata may sit, one level down, in the order searched. The
# text keys come last: ``"text": {"content": "Hi", "font": ...}`` holds the text one level down.
META_KEYS: Final = (
    META,
    "meta",
    "metadata",
    "md",
    "props",
    "properties",
    "attrs",
    "attributes",
    "data",
    "info",
    "extra",
    "details",
    "material",
    "asset",
    "media",
    "text",
    "content",
)
TYPE_KEYS: Final = (TRACK_TYPE, "type", "track_type", "trackType")
SEGMENT_KEYS: Final = (SEGMENTS, "segments", "clips", "items")
TRACKS_KEYS: Final = (TRACKS, "tracks")
KNOWN_SEGMENT_KEYS: Final = frozenset(
    (*DURATION_KEYS, *START_KEYS, *END_KEYS, *NAME_KEYS, *TEXT_KEYS, *SRC_KEYS, *VOLUME_KEYS)
)
KNOWN_TRACK_KEYS: Final = frozenset((*TYPE_KEYS, *SEGMENT_KEYS, *NAME_KEYS, *VOLUME_KEYS, "id"))
# Keys a JSON draft may have besides its track list without being of an unknown shape.
DRAFT_META_KEYS: Final = frozenset(
    {META, DURATION, "meta", "metadata", "id", "version", "v", "fps", "width", "height", "title"}
)
# A wrapped Draft V3 document: {"format": "v3", "xml": "<draft ...>"} and the like.
V3_WRAPPER_KEYS: Final = ("xml", "v3", "document", "doc", "content", "draft", "data", "body")
WIDTH_KEYS: Final = ("width", "w", "canvas_width", "canvasWidth")
HEIGHT_KEYS: Final = ("height", "h", "canvas_height", "canvasHeight")
RATIO_KEYS: Final = ("ratio", "aspect_ratio", "aspectRatio", "aspect")
STATE_KEYS: Final = ("draft", "video_infos", "generated_media", "canvas_config", "video_analyses")
COMMON_RATIOS: Final = (
    (16, 9),
    (9, 16),
    (1, 1),
    (4, 3),
    (3, 4),
    (4, 5),
    (5, 4),
    (21, 9),
    (3, 2),
    (2, 3),
)
VOICE_WORDS: Final = ("voice", "narrat", "speech", "tts", "vo ", "dub", "旁白", "配音", "解说")
SFX_WORDS: Final = ("sfx", "effect", "音效")
# Words a backend puts where a name belongs when it has none: never shown as if they were one.
PLACEHOLDERS: Final = frozenset(
    {
        "text",
        "title",
        "caption",
        "subtitle",
        "subtitles",
        "label",
        "name",
        "video",
        "audio",
        "image",
        "img",
        "photo",
        "clip",
        "segment",
        "track",
        "media",
        "music",
        "bgm",
        "voice",
        "sfx",
        "graphics",
        "effect",
        "visual",
        "color",
        "untitled",
        "unnamed",
        "none",
        "null",
        "undefined",
        "default",
        "placeholder",
        "n/a",
    }
)
# Track type words (Draft V3 ``<track type>``, or a word in a JSON draft's ``tt``): the type code
# the rest of the model knows, and a fixed role where the word says it (None: decided by content).
TYPE_WORDS: Final[dict[str, tuple[int | None, str | None]]] = {
    "video": (TRACK_VIDEO, "Video"),
    "main": (TRACK_VIDEO, "Video"),
    "image": (TRACK_VIDEO, "Images"),
    "images": (TRACK_VIDEO, "Images"),
    "photo": (TRACK_VIDEO, "Images"),
    "text": (TRACK_TEXT, None),
    "title": (TRACK_TEXT, None),
    "subtitle": (TRACK_TEXT, "Subtitles"),
    "subtitles": (TRACK_TEXT, "Subtitles"),
    "caption": (TRACK_TEXT, "Subtitles"),
    "captions": (TRACK_TEXT, "Subtitles"),
    "audio": (TRACK_AUDIO, None),
    "music": (TRACK_AUDIO, "BGM"),
    "bgm": (TRACK_AUDIO, "BGM"),
    "song": (TRACK_AUDIO, "BGM"),
    "voice": (TRACK_AUDIO, "Voice"),
    "voiceover": (TRACK_AUDIO, "Voice"),
    "narration": (TRACK_AUDIO, "Voice"),
    "sfx": (TRACK_AUDIO, "SFX"),
    "graphics": (None, "Graphics"),
    "graphic": (None, "Graphics"),
    "effect": (None, "Effects"),
    "effects": (None, "Effects"),
}
