"""Generation steps: a music video cut to the beat of an uploaded song, a promo from photos (and
a voiceover), and a background track synthesised from a mood; each with its closing text."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

from nemo_mcp.contract.draft import TRACK_AUDIO, TRACK_VIDEO
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator.agent.intents import Intent
from nemo_mcp.emulator.agent.workspace import (
    GUI_HINT_EN,
    GUI_HINT_ZH,
    Step,
    StepResult,
    Workspace,
    clamp_seconds,
    fmt_s,
    new_draft,
    register_generated_audio,
    src_fields,
)
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.render import media, synth

DEFAULT_PROMO_SECONDS: Final = 30.0
DEFAULT_MUSIC_SECONDS: Final = 30.0
PROMO_BGM_VOLUME: Final = 25
ADDED_BGM_VOLUME: Final = 40
CROSSFADE_MS: Final = 600
FADE_IN_MS: Final = 400
AUDIO_FADE_OUT_MS: Final = 1500
BEATS_PER_BAR: Final = 4
MIN_CUT_SECONDS: Final = 1.5


def music_video_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step] | str:
    songs = ws.uploads("audio")
    if not songs:
        return ws.say(
            "To make a music video I need your song first. Upload an MP3 or WAV (and, if you "
            "like, some photos or clips for the visuals), then ask again.",
            "制作音乐视频需要先上传歌曲。请上传 MP3 或 WAV 文件"
            "（也可以上传一些照片或视频片段作为画面），然后再告诉我。",
        )
    song = songs[-1]
    song_path = ws.path_of(song)
    visuals = [v for v in ws.video_infos if v.get("file_type") in ("image", "video")]

    def analyze(w: Workspace) -> StepResult:
        bpm = media.estimate_bpm(song_path) if song_path else None
        bpm = bpm or 120.0
        analysis = {
            "type": "audio",
            "filename": song.get("filename"),
            "bpm": bpm,
            "beats_per_bar": BEATS_PER_BAR,
            "duration": song.get("duration"),
        }
        w.analyses[str(song.get("media_id"))] = analysis
        w.notes["bpm"] = bpm
        return StepResult({"status": "success", **analysis}, w.delta("video_analyses"))

    def generate(w: Workspace) -> StepResult:
        bpm = float(w.notes.get("bpm") or 120.0)
        song_seconds = float(song.get("duration") or DEFAULT_MUSIC_SECONDS)
        total = clamp_seconds(min(intent.seconds or song_seconds, song_seconds))
        total_ms = round(total * 1000)
        bar = BEATS_PER_BAR * 60.0 / bpm
        cut = bar if bar >= MIN_CUT_SECONDS else 2 * bar
        cut_ms = max(round(cut * 1000), 500)
        title = Path(str(song.get("filename") or "Music video")).stem
        d = new_draft(w, title)
        main = dr.track(d, TRACK_VIDEO, "main", "Video")
        t, i = 0, 0
        while t < total_ms:
            seg_d = min(cut_ms, total_ms - t)
            seg: dict[str, Any] = {"id": dr.new_id("seg"), "s": t, "d": seg_d}
            if visuals:
                v = visuals[i % len(visuals)]
                seg.update(src_fields(v))
                if v.get("file_type") == "image":
                    seg.update(type="image", fx="kenburns", fit="cover")
                else:
                    seg.update(type="video", fit="cover", vol=0)
                    clip_s = float(v.get("duration") or 0.0)
                    loops = max(int(clip_s * 1000) - seg_d, 0)
                    seg["in"] = (i * cut_ms) % loops if loops else 0
            else:
                seg.update(
                    type="visual",
                    style="waveform" if i % 2 == 0 else "gradient",
                    hue=(i * 47) % 360,
                    name=f"Generated scene {i + 1}",
                )
            seg["tr"] = "fade" if i == 0 else ("crossfade" if i % 4 == 0 else "cut")
            seg["trd"] = FADE_IN_MS if i == 0 else (300 if i % 4 == 0 else 0)
            main["sg"].append(seg)
            t += seg_d
            i += 1
        music = dr.track(d, TRACK_AUDIO, "song", "Music")
        music["sg"].append(
            {
                "id": dr.new_id("seg"),
                "type": "audio",
                "s": 0,
                "d": total_ms,
                "in": 0,
                "vol": 100,
                "fo": min(AUDIO_FADE_OUT_MS, total_ms),
                **src_fields(song),
            }
        )
        dr.refresh_duration(d)
        w.draft = d
        w.generated.append(
            {
                "id": dr.new_id("gen"),
                "type": "video",
                "tool": "generate_music_video",
                "duration": total,
                "scenes": i,
                "bpm": bpm,
                "prompt": w.message[:300],
                "created_at": time.time(),
            }
        )
        w.notes.update(scenes=i, total=total, song=song.get("filename"))
        response = {"status": "success", "duration": total, "scenes": i, "bpm": bpm}
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "analyze_audio",
            {"file": song.get("filename"), "analysis": "beats"},
            cfg.edit_seconds,
            False,
            analyze,
        ),
        Step(
            "generate_music_video",
            {
                "song": song.get("filename"),
                "duration": intent.seconds,
                "visuals": len(visuals),
                "style": "beat-synced",
            },
            cfg.generation_seconds,
            True,
            generate,
        ),
    ]


def music_video_text(ws: Workspace) -> str:
    n = ws.notes
    return ws.say(
        f"Your music video is ready: {n.get('scenes')} scenes cut to the beat of "
        f'"{n.get("song")}" ({n.get("bpm"):.0f} BPM), {fmt_s(float(n.get("total", 0)))} seconds. '
        + GUI_HINT_EN,
        f"音乐视频已生成：按照《{n.get('song')}》的节拍（{n.get('bpm'):.0f} BPM）剪辑了 "
        f"{n.get('scenes')} 个镜头，时长 {fmt_s(float(n.get('total', 0)))} 秒。" + GUI_HINT_ZH,
    )


def promo_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step] | str:
    visuals = [v for v in ws.video_infos if v.get("file_type") in ("image", "video")]
    if not visuals:
        return ws.say(
            "To make a promo video I need some photos or clips. Upload them (and a voiceover if "
            "you have one), then ask again.",
            "制作宣传视频需要先上传照片或视频片段（如果有配音也可以一起上传），然后再告诉我。",
        )
    voices = ws.uploads("audio")
    voice = voices[-1] if voices else None
    mood = synth.mood_of(ws.message)

    def generate(w: Workspace) -> StepResult:
        if intent.seconds:
            total = clamp_seconds(intent.seconds)
        elif voice and voice.get("duration"):
            total = clamp_seconds(float(voice["duration"]))
        else:
            total = DEFAULT_PROMO_SECONDS
        total_ms = round(total * 1000)
        title = w.task_name if w.task_name and w.task_name != "project" else "Promo video"
        d = new_draft(w, title)
        main = dr.track(d, TRACK_VIDEO, "main", "Video")
        share = total_ms // len(visuals)
        for i, v in enumerate(visuals):
            start = i * share
            seg_d = total_ms - start if i == len(visuals) - 1 else share
            seg: dict[str, Any] = {"id": dr.new_id("seg"), "s": start, "d": seg_d}
            seg.update(src_fields(v))
            if v.get("file_type") == "image":
                seg.update(type="image", fx="kenburns", fit="cover")
            else:
                seg.update(type="video", fit="cover", vol=0 if voice else 100, **{"in": 0})
            seg["tr"] = "fade" if i == 0 else "crossfade"
            seg["trd"] = FADE_IN_MS if i == 0 else min(CROSSFADE_MS, seg_d // 2)
            main["sg"].append(seg)
        if voice:
            vo = dr.track(d, TRACK_AUDIO, "voiceover", "Voiceover")
            vo_ms = min(total_ms, int(float(voice.get("duration") or total) * 1000))
            vo["sg"].append(
                {
                    "id": dr.new_id("seg"),
                    "type": "audio",
                    "s": 0,
                    "d": vo_ms,
                    "in": 0,
                    "vol": 100,
                    **src_fields(voice),
                }
            )
        dr.refresh_duration(d)
        d["d"] = total_ms
        w.draft = d
        w.notes.update(total=total, count=len(visuals), voice=bool(voice))
        response = {
            "status": "success",
            "duration": total,
            "segments": len(visuals),
            "transitions": "crossfade",
        }
        return StepResult(response, w.delta("draft"))

    def add_bgm(w: Workspace) -> StepResult:
        assert w.draft is not None
        total = float(w.notes["total"])
        entry = register_generated_audio(w, total, mood, None)
        bgm = dr.track(w.draft, TRACK_AUDIO, "bgm", "BGM")
        bgm["sg"] = [
            {
                "id": dr.new_id("seg"),
                "type": "audio",
                "s": 0,
                "d": round(total * 1000),
                "in": 0,
                "vol": PROMO_BGM_VOLUME if w.notes.get("voice") else 60,
                "fo": AUDIO_FADE_OUT_MS,
                "src": entry["url"],
                "mid": entry["media_id"],
                "name": entry["filename"],
            }
        ]
        w.notes["bgm"] = entry["filename"]
        response = {"status": "success", "url": entry["url"], "duration": total, "mood": mood}
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "generate_video",
            {
                "prompt": ws.message[:200],
                "duration": intent.seconds,
                "images": len(visuals),
                "transitions": "crossfade",
            },
            cfg.generation_seconds,
            True,
            generate,
        ),
        Step(
            "generate_music",
            {"prompt": f"{mood} background music", "duration": intent.seconds},
            cfg.generation_seconds / 2,
            True,
            add_bgm,
        ),
    ]


def promo_text(ws: Workspace) -> str:
    n = ws.notes
    total = fmt_s(float(n.get("total", 0)))
    if ws.chinese:
        voice = "，配上你的旁白" if n.get("voice") else ""
        return (
            f"宣传视频已生成：{n.get('count')} 个素材，{total} 秒，"
            f"带交叉淡化转场和背景音乐{voice}。" + GUI_HINT_ZH
        )
    voice = ", your voiceover" if n.get("voice") else ""
    return (
        f"Your {total}-second promo video is ready: {n.get('count')} shots with crossfade "
        f"transitions{voice} and background music. " + GUI_HINT_EN
    )


def music_steps(ws: Workspace, intent: Intent, cfg: EmulatorConfig) -> list[Step]:
    mood = synth.mood_of(ws.message)
    existing = ws.draft if dr.is_ready(ws.draft) else None
    if intent.seconds:
        seconds = clamp_seconds(intent.seconds)
    elif existing:
        seconds = clamp_seconds(int(existing.get("d") or dr.end_ms(existing)) / 1000)
    else:
        seconds = DEFAULT_MUSIC_SECONDS

    def generate(w: Workspace) -> StepResult:
        entry = register_generated_audio(w, seconds, mood, None)
        total_ms = round(seconds * 1000)
        seg = {
            "id": dr.new_id("seg"),
            "type": "audio",
            "s": 0,
            "d": total_ms,
            "in": 0,
            "fo": min(AUDIO_FADE_OUT_MS, total_ms),
            "src": entry["url"],
            "mid": entry["media_id"],
            "name": entry["filename"],
        }
        if w.draft is not None and dr.is_ready(w.draft):
            d = w.draft
            seg["d"] = min(total_ms, int(d.get("d") or dr.end_ms(d)) or total_ms)
            seg["vol"] = ADDED_BGM_VOLUME
            dr.track(d, TRACK_AUDIO, "bgm", "BGM")["sg"] = [seg]
            w.notes["added_to_draft"] = True
        else:
            d = new_draft(w, f"{mood.capitalize()} background track")
            seg["vol"] = 100
            dr.track(d, TRACK_VIDEO, "main", "Video")["sg"].append(
                {
                    "id": dr.new_id("seg"),
                    "type": "visual",
                    "style": "waveform",
                    "hue": 210,
                    "s": 0,
                    "d": total_ms,
                    "name": "Audio visualizer",
                    "tr": "fade",
                    "trd": FADE_IN_MS,
                }
            )
            dr.track(d, TRACK_AUDIO, "bgm", "BGM")["sg"].append(seg)
            dr.refresh_duration(d)
            w.draft = d
        w.notes.update(seconds=seconds, mood=mood, bgm=entry["filename"], bpm=entry["bpm"])
        response = {
            "status": "success",
            "url": entry["url"],
            "duration": seconds,
            "mood": mood,
            "bpm": entry["bpm"],
        }
        return StepResult(response, w.delta("draft", "generated_media"))

    return [
        Step(
            "generate_music",
            {"prompt": ws.message[:200], "duration": seconds, "mood": mood},
            cfg.generation_seconds,
            True,
            generate,
        )
    ]


def music_text(ws: Workspace) -> str:
    n = ws.notes
    secs = fmt_s(float(n.get("seconds", 0)))
    if ws.chinese:
        where = "已作为背景音乐加入你的时间线" if n.get("added_to_draft") else "已放到时间线上"
        what = f"{secs} 秒的{n.get('mood')}风格免版税背景音乐"
        return f"已生成一段{what}（{n.get('bpm')} BPM），{where}。" + GUI_HINT_ZH
    where = (
        "and added it to your timeline as background music"
        if n.get("added_to_draft")
        else "with an audio visualizer on the timeline"
    )
    return (
        f"I generated a {secs}-second royalty-free {n.get('mood')} background track "
        f"({n.get('bpm')} BPM) {where}. " + GUI_HINT_EN
    )
