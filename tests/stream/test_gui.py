"""GUI phrasing -> tools (MCP) or commands (CLI), in English and Chinese, with near-misses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_mcp.stream.gui import ACTIONS, translate

CASES = [
    # (text, mcp text, cli text, actions)
    (
        "Click the Export button to download your video.",
        "Call `nemo_export` to download your video.",
        "Run `nemo-mcp export` to download your video.",
        ["export"],
    ),
    (
        "Done! Preview it in the timeline, then click Export.",
        "Done! Check the timeline with `nemo_get_state`, then call `nemo_export`.",
        "Done! Check the timeline with `nemo-mcp state`, then run `nemo-mcp export`.",
        ["state", "export"],
    ),
    (
        "Tap the download button when you're happy.",
        "Call `nemo_export` when you're happy.",
        "Run `nemo-mcp export` when you're happy.",
        ["export"],
    ),
    (
        "You can use the Export button at the top right.",
        "You can use `nemo_export` at the top right.",
        "You can use `nemo-mcp export` at the top right.",
        ["export"],
    ),
    (
        "Open the timeline to see all tracks.",
        "Check the timeline with `nemo_get_state` to see all tracks.",
        "Check the timeline with `nemo-mcp state` to see all tracks.",
        ["state"],
    ),
    (
        "Drag the clip onto the timeline at 0:05.",
        "Ask `nemo_chat` to move the clip onto the timeline at 0:05.",
        'Ask `nemo-mcp chat "..."` to move the clip onto the timeline at 0:05.',
        ["chat"],
    ),
    (
        "Drag and drop your files here to get started.",
        "Upload the file with `nemo_upload` to get started.",
        "Upload the file with `nemo-mcp upload FILE` to get started.",
        ["upload"],
    ),
    (
        "Click 'Add Music' to add background music.",
        "Ask for 'Add Music' with `nemo_chat` to add background music.",
        "Ask for 'Add Music' with `nemo-mcp chat \"...\"` to add background music.",
        ["chat"],
    ),
    (
        "点击导出按钮即可下载。",
        "用 `nemo_export` 导出即可下载。",
        "用 `nemo-mcp export` 导出即可下载。",
        ["export"],
    ),
    (
        "你可以在时间线上预览效果，然后点击右上角的导出按钮。",
        "你可以用 `nemo_get_state` 查看时间线，然后用 `nemo_export` 导出。",
        "你可以用 `nemo-mcp state` 查看时间线，然后用 `nemo-mcp export` 导出。",
        ["state", "export"],
    ),
    (
        "打开时间线查看轨道。",
        "用 `nemo_get_state` 查看时间线查看轨道。",
        "用 `nemo-mcp state` 查看时间线查看轨道。",
        ["state"],
    ),
    (
        "将片段拖拽到时间线上。",
        "将片段通过 `nemo_chat` 让助手移动到时间线上。",
        '将片段通过 `nemo-mcp chat "..."` 让助手移动到时间线上。',
        ["chat"],
    ),
    (
        "点击“应用”按钮。",
        "用 `nemo_chat` 让助手执行「应用」。",
        '用 `nemo-mcp chat "..."` 让助手执行「应用」。',
        ["chat"],
    ),
    (
        "点击上传按钮添加素材。",
        "用 `nemo_upload` 上传添加素材。",
        "用 `nemo-mcp upload FILE` 上传添加素材。",
        ["upload"],
    ),
]

NEAR_MISSES = [
    "A song about clickbait culture that opened up new possibilities.",
    "Add a click track and keep the drums open.",
    "Here is a 30-second preview of the chorus.",
    "The beat drops at 0:45, and the open road scene follows.",
    "I opened the clip with a slow fade.",
    "这首歌打开了新的可能性。",
    "The hook is catchy; listeners will click with it.",
    "",
]


@pytest.mark.parametrize(("text", "mcp", "cli", "actions"), CASES)
def test_translation_table(text: str, mcp: str, cli: str, actions: list[str]) -> None:
    for face, expected in (("mcp", mcp), ("cli", cli)):
        result = translate(text, face)  # type: ignore[arg-type]
        assert result.text == expected
        assert [a.action for a in result.actions] == actions


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    result = translate(text, "mcp")
    assert result.text == text
    assert result.actions == []


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        ("Your video is ready to export.", ["export"]),
        ("This used 50 credits.", ["credits"]),
        ("You can upload more clips any time, then export.", ["upload", "export"]),
        ("已为你生成视频，可以导出了。", ["export"]),
        ("剩余积分不足。", ["credits"]),
    ],
)
def test_mentions_suggest_actions_without_rewriting(text: str, actions: list[str]) -> None:
    result = translate(text, "cli")
    assert result.text == text
    assert [a.action for a in result.actions] == actions


def test_action_specs() -> None:
    assert ACTIONS["export"].tool == "nemo_export"
    assert ACTIONS["export"].command == "nemo-mcp export"
    assert ACTIONS["state"].tool == "nemo_get_state"
    assert ACTIONS["state"].command == "nemo-mcp state"
    assert ACTIONS["chat"].command == 'nemo-mcp chat "..."'
    assert ACTIONS["upload"].command == "nemo-mcp upload FILE"


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_translate_never_raises_and_keeps_text_without_gui_words(text: str) -> None:
    result = translate(text, "mcp")
    assert isinstance(result.text, str)
    lowered = text.lower()
    gui_words = (
        "click",
        "tap",
        "press",
        "hit",
        "select",
        "open",
        "go to",
        "drag",
        "drop",
        "preview",
        "export",
        "download",
        "upload",
        "点击",
        "拖",
        "预览",
        "打开",
        "导出",
        "下载",
        "上传",
    )
    if not any(w in lowered for w in gui_words):
        assert result.text == text
