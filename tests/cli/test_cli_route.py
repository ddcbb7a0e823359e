"""Free-text routing in English and Chinese, with near-misses and path extraction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_mcp.cli.route import extract_paths, route

ROUTES = [
    # export
    ("export", "export"),
    ("Export it", "export"),
    ("please export the video", "export"),
    ("can you export it in 1080p?", "export"),
    ("download", "export"),
    ("Download the video", "export"),
    ("send me the video", "export"),
    ("I want to download the final mp4", "export"),
    ("ok, render it", "export"),
    ("导出", "export"),
    ("帮我导出视频", "export"),
    ("下载视频", "export"),
    ("把视频发给我", "export"),
    # credits
    ("credits", "credits"),
    ("How many credits do I have left?", "credits"),
    ("what's my balance", "credits"),
    ("check my credit balance", "credits"),
    ("积分", "credits"),
    ("我还有多少积分？", "credits"),
    ("余额", "credits"),
    # state
    ("status", "state"),
    ("what's the status?", "state"),
    ("show tracks", "state"),
    ("show me the timeline", "state"),
    ("what's on the timeline?", "state"),
    ("状态", "state"),
    ("查看时间线", "state"),
    ("现在进度怎么样", "state"),
    # upload
    ("upload", "upload"),
    ("I want to upload a song", "upload"),
    ("upload my song and make a music video from it", "upload"),
    ("上传", "upload"),
    ("我要上传一段视频", "upload"),
    # chat (incl. near-misses)
    ("add background music", "chat"),
    ("exported footage of my trip as a music video", "chat"),
    ("make a music video from my exported clips", "chat"),
    ("generate a 3-minute song", "chat"),
    ("add end credits at the end", "chat"),
    ("show the end credits for 5 seconds", "chat"),
    ("balance the audio levels", "chat"),
    ("make a status update video for my team", "chat"),
    ("make a video about how to upload to YouTube", "chat"),
    ("the song I uploaded earlier should be the soundtrack", "chat"),
    ("export it and make the title bigger", "chat"),
    ("add a downloading progress animation", "chat"),
    ("render a 10 second intro", "chat"),
    ("用我导出的素材做一个音乐视频", "chat"),
    ("我上传的歌做成MV", "chat"),
    ("加上背景音乐", "chat"),
    ("生成一段城市延时视频", "chat"),
    ("把标题改成红色", "chat"),
    ("", "chat"),
]


@pytest.mark.parametrize(("text", "intent"), ROUTES)
def test_routing_table(text: str, intent: str) -> None:
    assert route(text).intent == intent


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("upload ~/song.mp3", ["~/song.mp3"]),
        ("use /Users/me/Music/track.WAV as the BGM", ["/Users/me/Music/track.WAV"]),
        ("add ./clips/a.mp4 and ../b.mov please.", ["./clips/a.mp4", "../b.mov"]),
        ('upload "/home/me/My Videos/trip 2024.mkv"', ["/home/me/My Videos/trip 2024.mkv"]),
        (r"upload C:\Users\me\Desktop\intro.mp4", [r"C:\Users\me\Desktop\intro.mp4"]),
        ("make a video with song.mp3", ["song.mp3"]),
        ("上传 ~/音乐/夏天.mp3 吧", ["~/音乐/夏天.mp3"]),
        ("upload file:///tmp/x.png", ["/tmp/x.png"]),
        ("upload ~/a.mp3 ~/a.mp3", ["~/a.mp3"]),
    ],
)
def test_paths_route_to_upload(text: str, paths: list[str]) -> None:
    result = route(text)
    assert result.intent == "upload"
    assert result.paths == paths


@pytest.mark.parametrize(
    "text",
    [
        "make it 16:9 with a 9/16 crop",
        "use the mp3 style of the eighties",
        "upload to youtube.com/watch later",
        "see https://cdn.example.com/video.mp4 for reference",
        "a file.mp3x is not media",
        "v1.2.mp",
    ],
)
def test_non_paths(text: str) -> None:
    assert extract_paths(text)[0] == []


def test_urls_are_returned_separately() -> None:
    result = route("upload https://cdn.example.com/a.mp4, thanks")
    assert result.intent == "upload"
    assert result.paths == []
    assert result.urls == ["https://cdn.example.com/a.mp4"]


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_route_never_raises(text: str) -> None:
    result = route(text)
    assert result.intent in {"export", "credits", "state", "upload", "chat"}
    if result.paths:
        assert result.intent == "upload"
