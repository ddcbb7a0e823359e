"""Media probing and decoding with PyAV and Pillow: file info, audio samples, tempo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from PIL import Image

from nemo_mcp.contract.media import MediaKind, media_kind

log = logging.getLogger(__name__)

SAMPLE_RATE: Final = 44_100
ANALYSIS_RATE: Final = 11_025
ANALYSIS_SECONDS: Final = 60.0
MIN_BPM: Final = 60.0
MAX_BPM: Final = 180.0
HALF_TEMPO_RATIO: Final = 0.5

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def _stream_duration(container: Any, stream: Any) -> float | None:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def probe(path: Path, kind: MediaKind | None = None) -> dict[str, Any]:
    """Duration (s), width, height, fps as the upload response reports them; {} if unreadable.

    Video: duration, width, height, fps. Image: width, height. Audio: duration.
    """
    kind = kind or media_kind(path.suffix)
    try:
        if kind == "image":
            with Image.open(path) as img:
                return {"width": int(img.width), "height": int(img.height)}
        with av.open(str(path)) as container:
            info: dict[str, Any] = {}
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if kind == "video" and video is not None:
                duration = _stream_duration(container, video)
                if duration is not None:
                    info["duration"] = round(duration, 3)
                info["width"] = int(video.codec_context.width)
                info["height"] = int(video.codec_context.height)
                rate = video.average_rate or video.guessed_rate
                if rate:
                    info["fps"] = round(float(rate), 3)
                info["has_audio"] = audio is not None
            elif audio is not None:
                duration = _stream_duration(container, audio)
                if duration is not None:
                    info["duration"] = round(duration, 3)
                info["sample_rate"] = int(audio.codec_context.sample_rate or 0)
            return info
    except Exception as exc:  # any decoder error means "not probeable"
        log.info("could not probe %s: %s", path.name, exc)
        return {}


def decode_audio(
    path: Path, start: float = 0.0, duration: float | None = None, *, rate: int = SAMPLE_RATE
) -> FloatArray:
    """Stereo float32 samples, shape (2, n), from ``start`` for ``duration`` seconds.

    Returns an empty (2, 0) array when the file has no audio or cannot be decoded.
    """
    first = round(start * rate)
    want = None if duration is None else round(duration * rate)
    chunks: list[FloatArray] = []
    got = 0
    seen = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return np.zeros((2, 0), np.float32)
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            done = False
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    data = out.to_ndarray().astype(np.float32, copy=False)
                    n = data.shape[1]
                    lo = max(first - seen, 0)
                    seen += n
                    if lo >= n:
                        continue
                    piece = data[:, lo:]
                    if want is not None and got + piece.shape[1] >= want:
                        piece = piece[:, : want - got]
                        done = True
                    chunks.append(piece)
                    got += piece.shape[1]
                    if done:
                        break
                if done:
                    break
    except Exception as exc:
        log.info("could not decode audio of %s: %s", path.name, exc)
    if not chunks:
        return np.zeros((2, 0), np.float32)
    return np.concatenate(chunks, axis=1)


def estimate_bpm(path: Path) -> float | None:
    """A rough tempo (beats per minute) from the onset envelope's autocorrelation."""
    samples = decode_audio(path, 0.0, ANALYSIS_SECONDS, rate=ANALYSIS_RATE)
    if samples.shape[1] < ANALYSIS_RATE * 4:
        return None
    mono = samples.mean(axis=0)
    hop = 256
    frames = mono[: len(mono) // hop * hop].reshape(-1, hop)
    energy = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    onset = np.maximum(np.diff(energy), 0.0)
    if not onset.any():
        return None
    onset = onset - onset.mean()
    corr = np.correlate(onset, onset, mode="full")[len(onset) - 1 :]
    frame_rate = ANALYSIS_RATE / hop
    lo = int(frame_rate * 60.0 / MAX_BPM)
    hi = int(frame_rate * 60.0 / MIN_BPM) + 1
    if hi >= len(corr) or lo < 1:
        return None
    lag = lo + int(np.argmax(corr[lo:hi]))
    # prefer the faster of two tempos an octave apart when both are strong
    half = round(lag / 2)
    if half >= lo and corr[half] > HALF_TEMPO_RATIO * corr[lag]:
        lag = half
    # refine with a parabola through the neighbours
    if 0 < lag < len(corr) - 1:
        a, b, c = corr[lag - 1], corr[lag], corr[lag + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom else 0.0
    else:
        shift = 0.0
    bpm = 60.0 * frame_rate / (lag + shift)
    return round(float(bpm), 1)
