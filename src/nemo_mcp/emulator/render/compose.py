"""Compositing: which segment of which video track is on screen at a time, with transitions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from nemo_mcp.contract.media import media_kind
from nemo_mcp.emulator.render.audio import Resolver
from nemo_mcp.emulator.render.media import FloatArray
from nemo_mcp.emulator.render.pixels import U8, blend, hex_rgb
from nemo_mcp.emulator.render.sources import (
    ImageSource,
    PlaceholderSource,
    SolidSource,
    Source,
    VideoSource,
    VisualSource,
)

log = logging.getLogger(__name__)


@dataclass
class Placed:
    """A segment placed on its track: ``start``..``end`` in ms, ``index`` in the track."""

    seg: dict[str, Any]
    start: int
    end: int
    index: int


class Compositor:
    """Frames of the video tracks: the topmost track with a segment at a time wins.

    Sources are opened when their segment first shows and closed once it is over.
    """

    def __init__(
        self,
        tracks: list[list[Placed]],
        *,
        width: int,
        height: int,
        fps: int,
        bg: tuple[int, int, int],
        levels: FloatArray,
        resolve: Resolver,
    ) -> None:
        self.tracks = tracks
        self.width, self.height, self.fps, self.bg = width, height, fps, bg
        self.levels = levels
        self.resolve = resolve
        self.background = SolidSource(width, height, bg)
        self._sources: dict[int, Source] = {}
        self._last: dict[int, tuple[int, U8]] = {}  # track index -> (segment index, last frame)

    def _open(self, item: Placed) -> Source:
        seg = item.seg
        kind = seg.get("type")
        width, height = self.width, self.height
        if kind == "color":
            return SolidSource(width, height, hex_rgb(seg.get("color"), self.bg))
        if kind == "visual":
            return VisualSource(
                width,
                height,
                hue=float(seg.get("hue", 210)),
                style=str(seg.get("style", "gradient")),
                levels=self.levels,
                fps=self.fps,
            )
        path = self.resolve(seg)
        label = str(seg.get("name") or seg.get("src") or kind or "media")
        if path is None:
            return PlaceholderSource(width, height, label)
        if kind == "image" or media_kind(path.suffix) == "image":
            return ImageSource(
                path,
                width,
                height,
                kenburns=seg.get("fx") == "kenburns",
                fit=str(seg.get("fit", "cover")),
                bg=self.bg,
                index=item.index,
            )
        return VideoSource(
            path,
            width,
            height,
            fit=str(seg.get("fit", "cover")),
            bg=self.bg,
            in_ms=float(seg.get("in", 0)),
        )

    def source(self, item: Placed) -> Source:
        key = id(item.seg)
        if key not in self._sources:
            try:
                self._sources[key] = self._open(item)
            except Exception as exc:
                log.info("cannot draw segment %s: %s", item.seg.get("id"), exc)
                label = str(item.seg.get("name") or "media")
                self._sources[key] = PlaceholderSource(self.width, self.height, label)
        return self._sources[key]

    def frame(self, t_ms: float) -> U8:
        for ti in range(len(self.tracks) - 1, -1, -1):
            items = self.tracks[ti]
            for pos, item in enumerate(items):
                if not (item.start <= t_ms < item.end):
                    continue
                local = t_ms - item.start
                img = self.source(item).frame(local, item.end - item.start)
                transition = item.seg.get("tr")
                trd = float(item.seg.get("trd") or 0)
                if transition in ("crossfade", "fade") and trd > 0 and local < trd:
                    alpha = local / trd
                    prev = self._last.get(ti)
                    if transition == "crossfade" and prev is not None and prev[0] == pos - 1:
                        img = blend(prev[1], img, alpha)
                    else:
                        img = blend(self.background.img, img, alpha)
                self._last[ti] = (pos, img)
                for done in items[:pos]:  # free the sources of segments that are over
                    old = self._sources.pop(id(done.seg), None)
                    if old is not None:
                        old.close()
                return img
        return self.background.img

    def close(self) -> None:
        for src in self._sources.values():
            src.close()
        self._sources.clear()
