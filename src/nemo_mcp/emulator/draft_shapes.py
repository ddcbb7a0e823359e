"""The draft as the emulator hands it out, in each shape a backend may use, and back again.

The emulator keeps every draft in its own JSON form (:mod:`nemo_mcp.emulator.draft`) and shows
it, in session state and in ``stateDelta``, in the shape ``EmulatorConfig.draft_format`` names:

``json``       the JSON draft as is (``t`` / ``tt`` / ``sg`` / ``d`` / ``m``; the default)
``json_meta``  the same, but each segment's and track's human labels (``name``, ``text``, ``n``)
               sit in its metadata object ``m`` instead of at its top level
``v3``         a Draft Protocol V3 document (an XML string): ``<draft>`` / ``<track type>`` /
               ``<clip in out>`` with ``<video>``, ``<image>``, ``<audio volume>``, ``<div>``
               text, ``<styles>``, ``<component>`` + ``<data type="json">`` for generated
               visuals, and ``<transitions>``

A render request may carry any of the three, whatever the setting (:func:`accept`): a Draft V3
string is parsed (with ``defusedxml``, as the product does) back into the JSON form the renderer
draws, so a V3 draft still renders to a real MP4.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final
from xml.etree.ElementTree import Element, SubElement, tostring

from defusedxml.ElementTree import fromstring

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_TEXT, TRACK_VIDEO
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.config import DEFAULT_HEIGHT, DEFAULT_WIDTH

_LABEL_KEYS: Final = ("name", "text", "n")
_TITLE_STYLES: Final = ".title { font-weight: 700; text-align: center; color: #ffffff; }"
# (tt, role) -> the V3 track type, and back.
_V3_TYPES: Final[dict[tuple[int, str], str]] = {
    (TRACK_VIDEO, "main"): "video",
    (TRACK_TEXT, "title"): "text",
    (TRACK_AUDIO, "bgm"): "bgm",
    (TRACK_AUDIO, "song"): "audio",
    (TRACK_AUDIO, "voiceover"): "voice",
}
_FROM_V3: Final[dict[str, tuple[int, str, str]]] = {
    "video": (TRACK_VIDEO, "main", "Video"),
    "image": (TRACK_VIDEO, "main", "Images"),
    "graphics": (TRACK_VIDEO, "graphics", "Graphics"),
    "effect": (TRACK_VIDEO, "effect", "Effects"),
    "text": (TRACK_TEXT, "title", "Titles"),
    "bgm": (TRACK_AUDIO, "bgm", "BGM"),
    "audio": (TRACK_AUDIO, "song", "Music"),
    "voice": (TRACK_AUDIO, "voiceover", "Voiceover"),
    "sfx": (TRACK_AUDIO, "sfx", "SFX"),
}


# --- out ---------------------------------------------------------------------------------------
def present(draft: dict[str, Any] | None, fmt: str) -> Any:
    """``draft`` (already absolutized) in the shape ``fmt``; None stays None."""
    if draft is None or fmt == "json":
        return draft
    if fmt == "json_meta":
        return to_meta(draft)
    if fmt == "v3":
        return to_v3(draft)
    raise ValueError(f"unknown draft format {fmt!r}")


def present_delta(delta: dict[str, Any], fmt: str) -> dict[str, Any]:
    """A ``stateDelta`` (or state) whose ``draft`` is shown in the shape ``fmt``."""
    if "draft" not in delta or fmt == "json":
        return delta
    return {**delta, "draft": present(delta["draft"], fmt)}


def to_meta(draft: dict[str, Any]) -> dict[str, Any]:
    """Segment and track labels moved from the top level into each one's ``m`` object."""
    out = copy.deepcopy(draft)
    for track in out.get("t", []):
        _move_labels(track)
        for seg in track.get("sg", []):
            _move_labels(seg)
    return out


def _move_labels(obj: dict[str, Any]) -> None:
    meta = obj.setdefault("m", {})
    for key in _LABEL_KEYS:
        if key in obj:
            meta[key] = obj.pop(key)


def _ms(value: Any) -> str:
    return str(int(float(value or 0)))


def _v3_type(track: dict[str, Any]) -> str:
    tt = int(track.get("tt", 0))
    known = _V3_TYPES.get((tt, str(track.get("role"))))
    if known:
        return known
    return {TRACK_AUDIO: "audio", TRACK_TEXT: "text"}.get(tt, "video")


def to_v3(draft: dict[str, Any]) -> str:
    """The draft as a Draft V3 document (a string)."""
    meta = draft.get("m") or {}
    root = Element(
        "draft",
        {
            "fps": str(meta.get("fps") or 30),
            "width": str(meta.get("width") or DEFAULT_WIDTH),
            "height": str(meta.get("height") or DEFAULT_HEIGHT),
            "duration": _ms(draft.get("d") or dr.end_ms(draft)),
        },
    )
    for key in ("title", "ratio", "bg"):
        if meta.get(key):
            root.set(key, str(meta[key]))
    transitions: list[dict[str, str]] = []
    for n, track in enumerate(draft.get("t", []), start=1):
        kind = _v3_type(track)
        el = SubElement(root, "track", {"id": str(track.get("id") or f"track{n}"), "type": kind})
        if track.get("n"):
            el.set("name", str(track["n"]))
        if kind == "text":
            SubElement(el, "styles").text = _TITLE_STYLES
        previous: str | None = None
        for i, seg in enumerate(track.get("sg", []), start=1):
            start = int(seg.get("s", 0))
            clip_id = str(seg.get("id") or f"{el.get('id')}-c{i}")
            clip = SubElement(
                el, "clip", {"id": clip_id, "in": str(start), "out": _ms(start + seg.get("d", 0))}
            )
            _v3_content(clip, seg)
            if seg.get("tr") in ("crossfade", "fade") and seg.get("trd"):
                transitions.append(
                    {
                        "type": str(seg["tr"]),
                        "from-clip": previous or "",
                        "to-clip": clip_id,
                        "in": str(start),
                        "duration": _ms(seg["trd"]),
                    }
                )
            previous = clip_id
    if transitions:
        holder = SubElement(root, "transitions")
        for attrs in transitions:
            SubElement(holder, "transition", attrs)
    return tostring(root, encoding="unicode")


def _v3_content(clip: Element, seg: dict[str, Any]) -> None:
    kind = seg.get("type")
    if seg.get("name") and kind != "text":
        clip.set("name", str(seg["name"]))
    if kind == "text":
        div = SubElement(clip, "div", {"class": "title"})
        for key in ("pos", "size", "color"):
            if seg.get(key) is not None:
                div.set(f"data-{key}", str(seg[key]))
        div.text = str(seg.get("text") or "")
    elif kind in ("video", "image", "audio"):
        media = SubElement(clip, kind, {"src": str(seg.get("src") or "")})
        if seg.get("in"):
            media.set("source-start", _ms(seg["in"]))
        if kind == "audio" or seg.get("vol"):
            media.set("volume", f"{float(seg.get('vol', 100)) / 100:g}")
        for key, attr in (("fx", "effect"), ("fit", "fit"), ("fi", "fade-in"), ("fo", "fade-out")):
            if seg.get(key) is not None:
                media.set(attr, str(seg[key]))
    else:  # generated visuals: a component with its settings as JSON data
        component = SubElement(clip, "component", {"type": str(kind or "visual")})
        settings = {k: seg[k] for k in ("style", "hue", "color") if k in seg}
        SubElement(component, "data", {"type": "json"}).text = json.dumps(settings)
        SubElement(component, "render", {"engine": "canvas"})


# --- in ----------------------------------------------------------------------------------------
def accept(draft: Any) -> Any:
    """A draft sent back for rendering, in any shape, as the renderer's JSON form (or as it
    came, when it is none of the shapes: the caller checks readiness)."""
    if isinstance(draft, str):
        text = draft.lstrip()
        if text.startswith("<"):
            try:
                return from_v3(text)
            except Exception:  # any unreadable document is simply "not a draft"
                return None
        try:
            draft = json.loads(draft)
        except ValueError:
            return None
    if isinstance(draft, dict):
        return from_meta(draft)
    return draft


def from_meta(draft: dict[str, Any]) -> dict[str, Any]:
    """Labels found in ``m`` brought back to the top level (the renderer reads them there)."""
    out = copy.deepcopy(draft)
    for track in out.get("t", []) if isinstance(out.get("t"), list) else []:
        if not isinstance(track, dict):
            continue
        _lift_labels(track)
        for seg in track.get("sg", []) if isinstance(track.get("sg"), list) else []:
            if isinstance(seg, dict):
                _lift_labels(seg)
    return out


def _lift_labels(obj: dict[str, Any]) -> None:
    meta = obj.get("m")
    if isinstance(meta, dict):
        for key in _LABEL_KEYS:
            if key in meta and key not in obj:
                obj[key] = meta.pop(key)
        if not meta:
            del obj["m"]


def _num(value: str | None, default: float = 0.0) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def from_v3(text: str) -> dict[str, Any]:
    """A Draft V3 document as the renderer's JSON draft. Raises on unreadable markup."""
    root = fromstring(text, forbid_dtd=True)
    if root.tag != "draft":
        raise ValueError("not a <draft> document")
    width, height = int(_num(root.get("width"), 1920)), int(_num(root.get("height"), 1080))
    meta: dict[str, Any] = {"width": width, "height": height, "fps": int(_num(root.get("fps"), 30))}
    meta["ratio"] = root.get("ratio") or dr.ratio_name(width, height)
    for key in ("title", "bg"):
        if root.get(key):
            meta[key] = root.get(key)
    draft: dict[str, Any] = {"t": [], "d": int(_num(root.get("duration"))), "m": meta}
    by_id: dict[str, dict[str, Any]] = {}
    for el in root.findall("track"):
        tt, role, name = _FROM_V3.get((el.get("type") or "video").lower(), _FROM_V3["video"])
        track: dict[str, Any] = {
            "id": el.get("id") or dr.new_id("trk"),
            "tt": tt,
            "n": el.get("name") or name,
            "role": role,
            "sg": [],
        }
        for clip in el.findall("clip"):
            seg = _segment(clip)
            track["sg"].append(seg)
            by_id[seg["id"]] = seg
        draft["t"].append(track)
    for transition in root.iter("transition"):
        target = by_id.get(transition.get("to-clip") or "")
        if target is not None:
            target["tr"] = transition.get("type") or "crossfade"
            target["trd"] = int(_num(transition.get("duration"), 600))
    if not draft["d"]:
        dr.refresh_duration(draft)
    return draft


def _segment(clip: Element) -> dict[str, Any]:
    start = int(_num(clip.get("in")))
    seg: dict[str, Any] = {
        "id": clip.get("id") or dr.new_id("seg"),
        "s": start,
        "d": max(0, int(_num(clip.get("out"))) - start),
    }
    if clip.get("name"):
        seg["name"] = clip.get("name")
    media = next((c for c in clip if c.tag in ("video", "image", "audio")), None)
    div = clip.find("div")
    component = clip.find("component")
    if media is not None:
        seg["type"] = media.tag
        seg["src"] = media.get("src") or ""
        if media.get("source-start"):
            seg["in"] = int(_num(media.get("source-start")))
        if media.get("volume") is not None:
            seg["vol"] = round(_num(media.get("volume"), 1.0) * 100)
        for attr, key in (("effect", "fx"), ("fit", "fit"), ("fade-in", "fi"), ("fade-out", "fo")):
            if media.get(attr) is not None:
                value = media.get(attr) or ""
                seg[key] = int(_num(value)) if key in ("fi", "fo") else value
    elif div is not None:
        seg.update(type="text", text="".join(div.itertext()).strip())
        seg["name"] = seg["text"][:40]
        for key in ("pos", "size", "color"):
            found = div.get(f"data-{key}")
            if found is not None:
                seg[key] = int(_num(found)) if key == "size" else found
    elif component is not None:
        seg["type"] = component.get("type") or "visual"
        data = component.find("data")
        if data is not None and data.text:
            settings = json.loads(data.text)
            if isinstance(settings, dict):
                seg.update({k: v for k, v in settings.items() if k in ("style", "hue", "color")})
    return seg
