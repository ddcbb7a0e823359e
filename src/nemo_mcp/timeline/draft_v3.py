"""Draft Protocol V3: NemoVideo's XML-like draft document, read safely into plain facts.

The shape (what the current NemoVideo tools author; everything is optional except the root)::

    <draft fps="30" width="1920" height="1080" duration="6000">
      <track id="v1" type="video">           video, image, text, graphics, effect,
        <clip id="c1" in="0" out="3000">     audio, voice, bgm, sfx (others kept by name)
          <video src="..." source-start=".." source-end=".."/>
        </clip>
      </track>
      <track id="t1" type="text">
        <styles>.title { ... }</styles>
        <clip id="c2" in="0" out="2000"><div class="title">Urban Dreams</div></clip>
      </track>
      <track id="a1" type="bgm">
        <clip id="c3" in="0" out="6000"><audio src="..." volume="0.35"/></clip>
      </track>
      <transitions><transition type="fade" from-clip="c1" to-clip="c4" in="2700" duration="600"/>
      </transitions>
    </draft>

Clips may also hold ``<data type="json">``, ``<render>`` and ``<component>`` (editable graphics).
Times are milliseconds. :func:`read_v3` never raises: a document it cannot read (not well-formed,
a DTD or entity declaration, too big, too deep, no ``<draft>``) comes back with ``problem`` set,
in words. The parser is ``defusedxml`` over the standard library's expat: DTDs, entity
declarations and external references are refused outright, so nothing is ever expanded or
fetched, and a tree builder with limits stops runaway depth or element counts while parsing.
Labels here are raw (stripped of surrounding space only): the timeline cleans and caps them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

__all__ = [
    "MAX_V3_CHARS",
    "V3Clip",
    "V3Draft",
    "V3Track",
    "looks_like_v3",
    "read_v3",
]

MAX_V3_CHARS: Final = 4_000_000
MAX_DEPTH: Final = 48
MAX_ELEMENTS: Final = 100_000
MAX_TRACKS: Final = 500
MAX_CLIPS: Final = 5000
MAX_LABEL_SOURCE: Final = 2000  # characters of text gathered for one clip's label
MAX_DATA_JSON: Final = 65_536  # a <data type="json"> body larger than this is not parsed

# Elements inside a clip that carry media, and those that never carry readable text.
_MEDIA_TAGS: Final = frozenset({"video", "audio", "image", "img", "picture", "source", "media"})
_SILENT_TAGS: Final = frozenset(
    {"styles", "style", "script", "data", "render", "component", "transitions", "transition"}
)
_NAME_ATTRS: Final = ("name", "title", "label", "alt", "display-name", "displayName")
_VOLUME_ATTRS: Final = ("volume", "vol", "gain")
_SRC_ATTRS: Final = ("src", "href", "url")
_START_ATTRS: Final = ("in", "start", "begin", "from")
_END_ATTRS: Final = ("out", "end", "to")
_DURATION_ATTRS: Final = ("duration", "dur", "length")
_JSON_NAME_KEYS: Final = ("name", "title", "label", "display_name", "displayName")
_JSON_TEXT_KEYS: Final = ("text", "content", "caption", "subtitle", "value")
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class _LimitExceeded(Exception):
    """The document is larger or deeper than a draft has any reason to be."""


@dataclass(frozen=True, slots=True)
class V3Clip:
    clip_id: str | None
    start_ms: int | None
    end_ms: int | None
    duration_ms: int | None
    name: str | None = None
    text: str | None = None
    src: str | None = None
    volume: str | None = None  # the attribute as written: "0.35", "35%", "80"
    media: str | None = None  # the media element's tag: video, audio, image, ...


@dataclass(frozen=True, slots=True)
class V3Track:
    track_id: str | None
    type: str | None  # lower-case, as written
    name: str | None
    clips: tuple[V3Clip, ...] = ()
    volume: str | None = None


@dataclass(frozen=True, slots=True)
class V3Draft:
    """What one Draft V3 document says; ``problem`` is set (in words) when it could not be read."""

    tracks: tuple[V3Track, ...] = ()
    width: str | None = None
    height: str | None = None
    fps: str | None = None
    duration: str | None = None
    title: str | None = None
    ratio: str | None = None
    transitions: int = 0
    problem: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def looks_like_v3(text: str) -> bool:
    """Is this string meant as a Draft V3 document (markup whose first element is a draft)?"""
    head = text.lstrip("\ufeff \t\r\n")[:4096].lower()
    if not head.startswith("<"):
        return False
    return "<draft" in head


# -- parsing --------------------------------------------------------------------------------------
class _BoundedBuilder:
    """An ElementTree target that refuses documents deeper or larger than the limits."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self._depth = 0
        self._count = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH:
            raise _LimitExceeded(f"it is nested more than {MAX_DEPTH} levels deep")
        if self._count > MAX_ELEMENTS:
            raise _LimitExceeded(f"it has more than {MAX_ELEMENTS} elements")
        return self._builder.start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> Element:
        return self._builder.close()


def _parse(text: str) -> Element:
    parser = DefusedXMLParser(
        target=_BoundedBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    parser.feed(text)
    root = parser.close()
    if not isinstance(root, Element):
        raise ParseError("no root element")
    return root


def read_v3(text: str) -> V3Draft:
    """Read a Draft V3 document. Never raises; see the module docstring."""
    if len(text) > MAX_V3_CHARS:
        return V3Draft(problem=f"it is larger than {MAX_V3_CHARS // 1_000_000} MB")
    try:
        root = _parse(text.lstrip("\ufeff"))
    except DefusedXmlException:
        return V3Draft(problem="it declares a DTD or entities, which are refused for safety")
    except _LimitExceeded as exc:
        return V3Draft(problem=str(exc))
    except ParseError as exc:
        return V3Draft(problem=f"it is not well-formed markup ({_parse_error(exc)})")
    except (ValueError, RecursionError, MemoryError) as exc:
        return V3Draft(problem=f"it could not be parsed ({type(exc).__name__})")
    draft = _find_draft(root)
    if draft is None:
        return V3Draft(problem=f"its root element is <{_tag(root)[:40]}>, not <draft>")
    return _read_draft(draft)


def _parse_error(exc: ParseError) -> str:
    position = getattr(exc, "position", None)
    if isinstance(position, tuple) and len(position) == 2:
        return f"line {position[0]}, column {position[1]}"
    return "syntax error"


def _tag(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1].lower()


def _attr(element: Element, names: tuple[str, ...]) -> str | None:
    lowered = {k.rsplit("}", 1)[-1].lower(): v for k, v in element.attrib.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None and value.strip():
            return value.strip()
    return None


def _find_draft(root: Element) -> Element | None:
    if _tag(root) == "draft":
        return root
    for element in root.iter():  # a wrapper around the draft (bounded by MAX_ELEMENTS)
        if _tag(element) == "draft":
            return element
    return None


def _read_draft(draft: Element) -> V3Draft:
    tracks: list[V3Track] = []
    transitions = 0
    for child in draft:
        tag = _tag(child)
        if tag == "track" and len(tracks) < MAX_TRACKS:
            tracks.append(_read_track(child))
        elif tag == "transitions":
            transitions += sum(1 for t in child if _tag(t) == "transition")
        elif tag == "transition":
            transitions += 1
    for track in draft.iter("track"):  # transitions kept inside a track
        for child in track:
            if _tag(child) == "transitions":
                transitions += sum(1 for t in child if _tag(t) == "transition")
    return V3Draft(
        tracks=tuple(tracks),
        width=_attr(draft, ("width", "w")),
        height=_attr(draft, ("height", "h")),
        fps=_attr(draft, ("fps", "framerate", "frame-rate")),
        duration=_attr(draft, _DURATION_ATTRS),
        title=_attr(draft, ("title", "name")),
        ratio=_attr(draft, ("ratio", "aspect", "aspect-ratio", "aspectRatio")),
        transitions=transitions,
        attributes={k: v[:200] for k, v in list(draft.attrib.items())[:50]},
    )


def _read_track(track: Element) -> V3Track:
    kind = _attr(track, ("type", "kind", "role"))
    clips: list[V3Clip] = []
    for child in track:
        if _tag(child) == "clip" and len(clips) < MAX_CLIPS:
            clips.append(_read_clip(child))
    return V3Track(
        track_id=_attr(track, ("id",)),
        type=kind.lower() if kind else None,
        name=_attr(track, _NAME_ATTRS),
        clips=tuple(clips),
        volume=_attr(track, _VOLUME_ATTRS),
    )


def _read_clip(clip: Element) -> V3Clip:
    media = next((c for c in clip.iter() if _tag(c) in _MEDIA_TAGS), None)
    name = _attr(clip, _NAME_ATTRS) or (_attr(media, _NAME_ATTRS) if media is not None else None)
    text = _clip_text(clip)
    data_name, data_text = _data_labels(clip)
    component = next((c for c in clip.iter() if _tag(c) == "component"), None)
    if name is None and component is not None:
        name = _attr(component, (*_NAME_ATTRS, "type"))
    volume = _attr(clip, _VOLUME_ATTRS)
    if media is not None:
        volume = _attr(media, _VOLUME_ATTRS) or volume
        muted = _attr(media, ("muted", "mute"))
        if muted is not None and muted.lower() not in _FALSE:
            volume = "0"
    start = _attr(clip, _START_ATTRS)
    end = _attr(clip, _END_ATTRS)
    duration = _attr(clip, _DURATION_ATTRS)
    return V3Clip(
        clip_id=_attr(clip, ("id",)),
        start_ms=_ms(start),
        end_ms=_ms(end),
        duration_ms=_ms(duration),
        name=name or data_name,
        text=text or data_text,
        src=_attr(media, _SRC_ATTRS) if media is not None else None,
        volume=volume,
        media=_tag(media) if media is not None else None,
    )


def _clip_text(clip: Element) -> str | None:
    """The readable text inside a clip (``<div>Title</div>``), skipping styles, data, media."""
    pieces: list[str] = []
    size = 0
    for piece in _texts(clip):
        pieces.append(piece)
        size += len(piece)
        if size >= MAX_LABEL_SOURCE:
            break
    text = " ".join(" ".join(pieces).split())
    return text[:MAX_LABEL_SOURCE] or None


def _texts(element: Element) -> Iterator[str]:
    # An explicit stack: the tree's depth is bounded by MAX_DEPTH, but no recursion is needed.
    stack: list[tuple[Element, bool]] = [(element, False)]
    while stack:
        node, is_tail = stack.pop()
        if is_tail:
            if node.tail and node.tail.strip():
                yield node.tail
            continue
        tag = _tag(node)
        if node is not element:
            stack.append((node, True))
            if tag in _SILENT_TAGS or tag in _MEDIA_TAGS:
                continue
        if node.text and node.text.strip():
            yield node.text
        stack.extend((child, False) for child in reversed(node))


def _data_labels(clip: Element) -> tuple[str | None, str | None]:
    """(name, text) from a ``<data type="json">`` body: top level or one object down."""
    for data in clip.iter():
        if _tag(data) != "data":
            continue
        kind = (_attr(data, ("type",)) or "json").lower()
        body = (data.text or "").strip()
        if "json" not in kind or not body or len(body) > MAX_DATA_JSON:
            continue
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, Mapping):
            return _json_label(value, _JSON_NAME_KEYS), _json_label(value, _JSON_TEXT_KEYS)
    return None, None


def _json_label(value: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for scope in (value, *(v for v in value.values() if isinstance(v, Mapping))):
        for key in keys:
            found = scope.get(key)
            if isinstance(found, str) and found.strip():
                return found.strip()
    return None


def _ms(value: str | None) -> int | None:
    """Milliseconds from an attribute: ``"3000"``, ``"3000ms"``, ``"3s"``, ``"2.5s"``."""
    if value is None:
        return None
    text = value.strip().lower()
    scale = 1.0
    if text.endswith("ms"):
        text = text[:-2]
    elif text.endswith("s"):
        text, scale = text[:-1], 1000.0
    if not text or len(text) > 24:
        return None
    try:
        number = float(text) * scale
    except ValueError:
        return None
    if number != number or number < 0 or number > 1e12:  # NaN, negative, absurd
        return None
    return round(number)
