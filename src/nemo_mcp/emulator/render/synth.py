"""Synthetic media for tests and demos: songs, photos and clips that are real, decodable files.

    make_song(path, seconds, *, bpm=120, mood="upbeat")   WAV / MP3 / M4A by extension
    make_photo(path, text, *, size=(1280, 720), color=...) JPG / PNG / WEBP by extension
    make_clip(path, seconds, *, size=(640, 360))          MP4 (H.264 + AAC)
    synth_music(seconds, *, bpm, mood) -> samples         the emulator's "generated" tracks

All of it is deterministic for a given ``seed`` and quick (a 30-second song takes well under a
second; a 5-second clip a fraction of one).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nemo_mcp.emulator.render.media import SAMPLE_RATE, FloatArray

__all__ = [
    "MOODS",
    "make_clip",
    "make_photo",
    "make_song",
    "mood_of",
    "synth_music",
    "write_audio",
]

# mood -> (default bpm, chord roots in semitones from A3, minor?, drums?, pluck?)
MOODS: Final[dict[str, dict[str, Any]]] = {
    "upbeat": {"bpm": 120, "chords": [3, 10, 0, 8], "minor": False, "drums": 2, "pluck": True},
    "acoustic": {"bpm": 100, "chords": [3, 8, 10, 3], "minor": False, "drums": 1, "pluck": True},
    "calm": {"bpm": 76, "chords": [3, 0, 8, 10], "minor": False, "drums": 0, "pluck": False},
    "lofi": {"bpm": 84, "chords": [5, 3, 0, 10], "minor": False, "drums": 1, "pluck": True},
    "sad": {"bpm": 70, "chords": [0, 8, 3, 10], "minor": True, "drums": 0, "pluck": True},
    "epic": {"bpm": 96, "chords": [0, 8, 3, 10], "minor": True, "drums": 2, "pluck": False},
    "electronic": {"bpm": 128, "chords": [0, 5, 8, 7], "minor": True, "drums": 2, "pluck": True},
}

_MOOD_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "acoustic": ("acoustic", "guitar", "folk", "原声", "吉他", "民谣"),
    "calm": ("calm", "ambient", "relax", "soft", "peaceful", "gentle", "平静", "舒缓", "轻柔"),
    "lofi": ("lo-fi", "lofi", "chill", "jazzy", "cafe", "咖啡"),
    "sad": ("sad", "melanchol", "emotional", "piano", "悲伤", "伤感", "忧郁"),
    "epic": ("epic", "cinematic", "dramatic", "trailer", "史诗", "电影", "震撼"),
    "electronic": ("electronic", "edm", "techno", "dance", "synth", "电子", "舞曲"),
    "upbeat": ("upbeat", "happy", "energetic", "fun", "bright", "欢快", "活力", "轻快", "动感"),
}


def mood_of(text: str) -> str:
    """The mood a prompt asks for (``upbeat`` when nothing matches)."""
    low = text.lower()
    for mood, words in _MOOD_WORDS.items():
        if any(w in low for w in words):
            return mood
    return "upbeat"


def _hz(semitones_from_a3: float) -> float:
    return float(220.0 * 2.0 ** (semitones_from_a3 / 12.0))


def _env(n: int, attack: float, decay: float, rate: int) -> FloatArray:
    t = np.arange(n, dtype=np.float32) / rate
    a = np.clip(t / max(attack, 1e-4), 0.0, 1.0)
    return (a * np.exp(-t / max(decay, 1e-4))).astype(np.float32)


def _tone(freq: float, n: int, rate: int, harmonics: tuple[float, ...]) -> FloatArray:
    t = np.arange(n, dtype=np.float32) / rate
    out = np.zeros(n, np.float32)
    for k, amp in enumerate(harmonics, start=1):
        out += amp * np.sin(2 * np.pi * freq * k * t, dtype=np.float32)
    return out


def _add(buf: FloatArray, at: int, piece: FloatArray, pan: float = 0.0) -> None:
    if at >= buf.shape[1]:
        return
    piece = piece[: buf.shape[1] - at]
    left = np.float32(np.sqrt(0.5 * (1.0 - pan)))
    right = np.float32(np.sqrt(0.5 * (1.0 + pan)))
    buf[0, at : at + len(piece)] += piece * left
    buf[1, at : at + len(piece)] += piece * right


def synth_music(
    seconds: float,
    *,
    bpm: float | None = None,
    mood: str = "upbeat",
    seed: int = 0,
    rate: int = SAMPLE_RATE,
) -> FloatArray:
    """A small arrangement (pad, bass, plucks, drums) as stereo float32, shape (2, n)."""
    style = MOODS.get(mood, MOODS["upbeat"])
    tempo = float(bpm or style["bpm"])
    rng = np.random.default_rng(seed)
    n = max(int(seconds * rate), 1)
    buf = np.zeros((2, n), np.float32)
    beat = 60.0 / tempo
    bar = 4 * beat
    third = 3 if style["minor"] else 4
    chords: list[int] = style["chords"]
    bars = int(np.ceil(seconds / bar))
    for b in range(bars):
        root = chords[b % len(chords)]
        start = int(b * bar * rate)
        length = int(bar * rate)
        pad_env = _env(length, 0.25 * beat, 3.0 * bar, rate) * np.minimum(
            1.0, np.linspace(4.0, 0.0, length, dtype=np.float32)
        )
        for i, step in enumerate((0, third, 7)):
            tone = _tone(_hz(root + step), length, rate, (0.5, 0.2, 0.08))
            _add(buf, start, 0.09 * tone * pad_env, pan=(i - 1) * 0.4)
        for k in range(4):
            at = start + int(k * beat * rate)
            blen = int(beat * rate)
            bass = _tone(_hz(root - 12), blen, rate, (0.8, 0.3)) * _env(blen, 0.005, 0.35, rate)
            _add(buf, at, 0.22 * bass)
        if style["pluck"]:
            arp = (0, third, 7, 12, 7, third, 0, 7)
            for k, step in enumerate(arp):
                at = start + int(k * beat * 0.5 * rate)
                plen = int(beat * 0.9 * rate)
                pluck = _tone(_hz(root + 12 + step), plen, rate, (0.6, 0.3, 0.15, 0.08))
                _add(buf, at, 0.12 * pluck * _env(plen, 0.002, 0.18, rate), pan=0.3 - 0.6 * (k % 2))
        if style["drums"]:
            kick_len = int(0.3 * rate)
            tk = np.arange(kick_len, dtype=np.float32) / rate
            sweep = 45.0 + 90.0 * np.exp(-tk / 0.04)
            kick = np.sin(2 * np.pi * np.cumsum(sweep) / rate).astype(np.float32)
            kick *= _env(kick_len, 0.001, 0.12, rate)
            hat_len = int(0.05 * rate)
            for k in range(4):
                if style["drums"] >= 2 or k % 2 == 0:
                    _add(buf, start + int(k * beat * rate), 0.5 * kick)
                noise = rng.standard_normal(hat_len).astype(np.float32)
                hat = np.diff(noise, prepend=np.float32(0.0)) * _env(hat_len, 0.001, 0.015, rate)
                _add(buf, start + int((k + 0.5) * beat * rate), 0.05 * hat, pan=0.2)
    peak = float(np.abs(buf).max()) or 1.0
    buf *= np.float32(0.8 / peak)
    fade_in = min(int(0.05 * rate), n)
    fade_out = min(int(1.5 * rate), n)
    buf[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
    buf[:, n - fade_out :] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
    return buf


def write_audio(path: Path, samples: FloatArray, *, rate: int = SAMPLE_RATE) -> Path:
    """Write stereo float samples as WAV (16-bit), MP3, M4A or AAC, chosen by extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower().lstrip(".")
    data = np.clip(samples, -1.0, 1.0).astype(np.float32)
    if data.ndim == 1:
        data = np.stack([data, data])
    if ext == "wav":
        pcm = (data.T * 32767.0).astype("<i2")
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(pcm.tobytes())
        return path
    codec = {"mp3": "libmp3lame", "m4a": "aac", "aac": "aac"}.get(ext)
    if codec is None:
        raise ValueError(f"unsupported audio extension {path.suffix!r} (use .wav, .mp3, .m4a)")
    fmt = "adts" if ext == "aac" else ("ipod" if ext == "m4a" else None)
    with av.open(str(path), "w", format=fmt) as container:
        stream: Any = container.add_stream(codec, rate=rate)
        stream.layout = "stereo"
        if codec == "aac":
            stream.bit_rate = 128_000
        step = rate // 10
        for i in range(0, data.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, i : i + step]), format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_song(
    path: Path, seconds: float, *, bpm: float = 120, mood: str = "upbeat", seed: int = 0
) -> Path:
    """A real song file (WAV, MP3, M4A or AAC by extension) with a steady ``bpm`` beat."""
    return write_audio(Path(path), synth_music(seconds, bpm=bpm, mood=mood, seed=seed))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def make_photo(
    path: Path,
    text: str,
    *,
    size: tuple[int, int] = (1280, 720),
    color: tuple[int, int, int] | str = (40, 90, 160),
) -> Path:
    """A photo-like picture: a diagonal gradient, a few shapes, and ``text`` in the middle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    base = Image.new("RGB", (1, 1), color).getpixel((0, 0))
    assert isinstance(base, tuple)
    rgb = np.array(base[:3], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mix = ((xx / max(w - 1, 1)) + (yy / max(h - 1, 1))) / 2.0
    light = rgb + (255.0 - rgb) * 0.45
    dark = rgb * 0.35
    pixels = light[None, None, :] * (1.0 - mix[..., None]) + dark[None, None, :] * mix[..., None]
    img = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    r = min(w, h) // 5
    draw.ellipse((w // 8, h // 6, w // 8 + r, h // 6 + r), fill=tuple(int(c) for c in light))
    draw.rectangle(
        (w - w // 4, h - h // 3, w - w // 10, h - h // 8), outline=(255, 255, 255), width=4
    )
    font = _font(max(h // 9, 12))
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    pos = ((w - tw) // 2 - box[0], (h - th) // 2 - box[1])
    draw.text((pos[0] + 3, pos[1] + 3), text, font=font, fill=(0, 0, 0))
    draw.text(pos, text, font=font, fill=(255, 255, 255))
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        img.save(path, "JPEG", quality=88)
    elif ext in (".png", ".webp", ".gif"):
        img.save(path)
    else:
        raise ValueError(f"unsupported image extension {path.suffix!r} (use .jpg, .png, .webp)")
    return path


def make_clip(
    path: Path,
    seconds: float,
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    color: tuple[int, int, int] = (200, 60, 60),
    audio: bool = True,
) -> Path:
    """A real MP4 (H.264 + AAC): a moving box over a shifting gradient, and a beeping tone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = (size[0] // 2 * 2, size[1] // 2 * 2)
    frames = max(round(seconds * fps), 1)
    ramp = np.linspace(0, 255, w * 2, dtype=np.float32)
    band = np.stack([ramp * 0.3 + 20, ramp * 0.2 + 30, 255 - ramp * 0.5], axis=-1)
    band = band.clip(0, 255).astype(np.uint8)
    box = max(min(w, h) // 5, 4)
    font = _font(max(h // 10, 10))
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        vs = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = None
        if audio:
            aus = container.add_stream("aac", rate=SAMPLE_RATE)
            aus.layout = "stereo"
        per_frame = SAMPLE_RATE / fps
        for i in range(frames):
            shift = (i * 8) % w
            row = band[shift : shift + w]
            img = np.broadcast_to(row[None, :, :], (h, w, 3)).copy()
            x = int((w - box) * (0.5 + 0.5 * np.sin(i / fps * 2.0)))
            y = int((h - box) * (0.5 + 0.5 * np.cos(i / fps * 1.3)))
            img[y : y + box, x : x + box] = color
            pil = Image.fromarray(img)
            ImageDraw.Draw(pil).text((8, 6), f"{i / fps:05.2f}s", font=font, fill=(255, 255, 255))
            frame = av.VideoFrame.from_ndarray(np.asarray(pil), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                container.mux(packet)
            if aus is not None:
                a0, a1 = int(i * per_frame), int((i + 1) * per_frame)
                t = np.arange(a0, a1, dtype=np.float32) / SAMPLE_RATE
                beep = ((t % 1.0) < 0.15).astype(np.float32)
                tone = 0.25 * beep * np.sin(2 * np.pi * 660.0 * t, dtype=np.float32)
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(np.stack([tone, tone])), format="fltp", layout="stereo"
                )
                af.sample_rate = SAMPLE_RATE
                af.pts = a0
                for packet in aus.encode(af):
                    container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if aus is not None:
            for packet in aus.encode():
                container.mux(packet)
    return path
