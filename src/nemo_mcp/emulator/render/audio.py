"""The soundtrack: audio tracks and clips with volume mixed with their fades, and the per-frame
band levels the generated visuals dance to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_VIDEO
from nemo_mcp.emulator.render.media import SAMPLE_RATE, FloatArray, decode_audio

Resolver = Callable[[dict[str, Any]], Path | None]

AUDIO_EDGE_FADE_MS: Final = 5
BARS: Final = 32
FFT_SIZE: Final = 2048


def mix_audio(draft: dict[str, Any], total_s: float, resolve: Resolver) -> tuple[FloatArray, bool]:
    n = max(round(total_s * SAMPLE_RATE), 1)
    mix: FloatArray = np.zeros((2, n), np.float32)
    any_audio = False
    for trk in draft.get("t", []):
        if not isinstance(trk, dict):
            continue
        track_gain = float(trk.get("vol", 100)) / 100.0
        for seg in trk.get("sg", []):
            if not isinstance(seg, dict):
                continue
            is_audio = trk.get("tt") == TRACK_AUDIO
            is_clip = trk.get("tt") == TRACK_VIDEO and seg.get("type") == "video"
            vol = float(seg.get("vol", 100 if is_audio else 0))
            if not (is_audio or is_clip) or vol <= 0:
                continue
            path = resolve(seg)
            if path is None:
                continue
            start = round(float(seg.get("s", 0)) / 1000 * SAMPLE_RATE)
            dur = float(seg.get("d", 0)) / 1000
            if start >= n or dur <= 0:
                continue
            samples = decode_audio(path, float(seg.get("in", 0)) / 1000, dur)
            length = min(samples.shape[1], n - start)
            if length <= 0:
                continue
            piece = samples[:, :length] * np.float32(vol / 100.0 * track_gain)
            edge = int(AUDIO_EDGE_FADE_MS / 1000 * SAMPLE_RATE)
            fade_in = max(int(float(seg.get("fi", 0)) / 1000 * SAMPLE_RATE), edge)
            fade_out = max(int(float(seg.get("fo", 0)) / 1000 * SAMPLE_RATE), edge)
            fade_in, fade_out = min(fade_in, length), min(fade_out, length)
            piece[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
            piece[:, length - fade_out :] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
            mix[:, start : start + length] += piece
            any_audio = True
    np.clip(mix, -1.0, 1.0, out=mix)
    return mix, any_audio


def levels(mix: FloatArray, frames: int, fps: int) -> FloatArray:
    """Per video frame, BARS band levels in 0..1 (log-spaced bands of an FFT)."""
    mono = mix.mean(axis=0)
    window = np.hanning(FFT_SIZE).astype(np.float32)
    edges = np.unique(np.geomspace(2, FFT_SIZE // 2, BARS + 1).astype(int))
    out = np.zeros((frames, BARS), np.float32)
    for i in range(frames):
        center = int(i / fps * SAMPLE_RATE)
        lo = max(center - FFT_SIZE // 2, 0)
        chunk = mono[lo : lo + FFT_SIZE]
        if len(chunk) < FFT_SIZE:
            chunk = np.pad(chunk, (0, FFT_SIZE - len(chunk)))
        spectrum = np.abs(np.fft.rfft(chunk * window))
        bands = [spectrum[edges[b] : edges[b + 1]].mean() for b in range(len(edges) - 1)]
        vals = np.log1p(np.array(bands, np.float32)) / 4.0
        out[i, : len(vals)] = np.clip(vals, 0.0, 1.0)
    # smooth over time so the bars do not flicker
    for i in range(1, frames):
        out[i] = np.maximum(out[i], out[i - 1] * 0.82)
    return out
