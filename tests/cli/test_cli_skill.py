"""SKILL.md and ``nemo-mcp skill build``: valid Agent Skills whose frontmatter feeds attribution."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import skills_ref
from skills_ref.parser import parse_frontmatter

from nemo_mcp import cli
from nemo_mcp.config import Settings
from nemo_mcp.manifest import all_manifests, load_manifest, read_frontmatter, skill_identity
from nemo_mcp.setup import skills

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted(all_manifests())


def test_all_four_manifests_are_known() -> None:
    assert MANIFESTS == [
        "ai-music-video-clip-generator",
        "music-generator-free-easy",
        "nemo-mcp",
        "video-making-free-ai",
    ]


@pytest.mark.parametrize("name", MANIFESTS)
def test_built_skill_validates_with_skills_ref(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "skills"
    assert cli.main(["skill", "build", name, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    folder = out / name
    assert report["built"] == [
        {"name": name, "version": load_manifest(name).version, "path": str(folder / "SKILL.md")}
    ]
    assert skills_ref.validate(folder) == []

    props = skills_ref.read_properties(folder)
    manifest = load_manifest(name)
    assert props.name == name
    assert len(props.description) <= 500
    assert props.description.startswith(manifest.description)
    text = (folder / "SKILL.md").read_text(encoding="utf-8")
    meta, body = parse_frontmatter(text)
    assert meta["metadata"]["version"] == manifest.version
    openclaw = meta["metadata"]["openclaw"]  # stringified by skills-ref: check the raw text
    assert "primaryEnv" in openclaw and "NEMO_TOKEN" in openclaw
    assert "        required: false" in text
    assert len(body.splitlines()) < 150
    # the manifest's own words are in the body
    assert manifest.title in body and manifest.greeting in body
    for example in manifest.examples:
        assert example in body
    for tip in manifest.tips:
        assert tip in body
    assert f"at most {manifest.max_upload_mb} MB" in body
    assert ", ".join(manifest.preferred_formats) in body
    # every recipe runs from the skill folder, so its frontmatter feeds the headers
    commands = [line for line in body.splitlines() if line.startswith("nemo-mcp ")]
    assert commands and all(c.startswith("nemo-mcp --skill-dir {baseDir} ") for c in commands)
    assert any(" export --json" in c for c in commands)
    # and the frontmatter is what attribution reads
    assert skill_identity(load_manifest("nemo-mcp"), folder) == (name, manifest.version)


def test_build_all_and_by_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["skill", "build", "--all", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == MANIFESTS
    path = ROOT / "manifests" / "skills" / "music-generator-free-easy.json"
    other = tmp_path / "again"
    assert cli.main(["skill", "build", str(path), "--out", str(other)]) == 0
    assert (other / "music-generator-free-easy" / "SKILL.md").read_text() == (
        tmp_path / "music-generator-free-easy" / "SKILL.md"
    ).read_text()
    capsys.readouterr()


def test_build_errors_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["skill", "build", "no-such-skill", "--out", str(tmp_path), "--json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]
    assert "nemo-mcp" in err["hint"] and "ai-music-video-clip-generator" in err["hint"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "Bad Name"}')
    assert cli.main(["skill", "build", str(bad), "--json"]) == 2
    assert "not a valid skill manifest" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert cli.main(["skill", "build", "--json"]) == 2
    capsys.readouterr()


def test_root_skill_md_is_the_built_nemo_mcp_skill(tmp_path: Path) -> None:
    """The repository's SKILL.md is kept equal to the template (rebuild it after changes:
    `nemo-mcp skill build nemo-mcp --out DIR` and copy DIR/nemo-mcp/SKILL.md)."""
    root = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    assert root == skills.render_skill_md(load_manifest("nemo-mcp"))
    folder = tmp_path / "nemo-mcp"
    folder.mkdir()
    shutil.copy(ROOT / "SKILL.md", folder / "SKILL.md")
    assert skills_ref.validate(folder) == []
    assert len(root.splitlines()) < 500


def test_root_skill_md_teaches_the_seed_jobs_and_the_rules() -> None:
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    for needle in (
        "pipx install nemo-mcp",
        "uvx nemo-mcp",
        "upload song.mp3",
        'chat "generate a music video clip synced to my song with matching visuals"',
        'chat "turn these photos and audio into a 30-second promo video with transitions"',
        'chat "generate a 30-second royalty-free background track for my video"',
        "export --json",
        'ask "',
        "导出",
        "积分",
        "状态",
        "上传",
        "| 3 | still running",
        "| 4 | token",
        "| 130 |",
        "no_credits",
        "never resends",
        "untrusted",
        "nemo-mcp login",
    ):
        assert needle in text, needle


def test_frontmatter_version_under_metadata_is_read() -> None:
    meta = read_frontmatter(ROOT / "SKILL.md")
    assert meta["name"] == "nemo-mcp"
    assert meta["metadata.version"] == load_manifest("nemo-mcp").version
    assert "metadata.openclaw" not in meta  # nested blocks are not scalars


def test_skill_dir_selects_the_manifest(tmp_path: Path) -> None:
    folder = skills.build_skill(load_manifest("ai-music-video-clip-generator"), tmp_path)
    settings = Settings.from_env({"NEMO_SKILL_DIR": str(folder)})
    assert settings.skill == "ai-music-video-clip-generator"
    assert settings.skill_dir == folder
    # an explicit NEMO_SKILL wins; a folder naming an unknown skill keeps the default
    explicit = Settings.from_env({"NEMO_SKILL_DIR": str(folder), "NEMO_SKILL": "nemo-mcp"})
    assert explicit.skill == "nemo-mcp"
    custom = tmp_path / "my-own-skill"
    custom.mkdir()
    (custom / "SKILL.md").write_text("---\nname: my-own-skill\ndescription: x\n---\n")
    assert Settings.from_env({"NEMO_SKILL_DIR": str(custom)}).skill == "nemo-mcp"


def test_whoami_reports_the_skill_folder_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = load_manifest("video-making-free-ai")
    folder = skills.build_skill(manifest, tmp_path)
    assert cli.main(["--skill-dir", str(folder), "whoami", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["skill"], out["skill_version"]) == (manifest.name, manifest.version)
    assert out["skill_dir"] == str(folder.absolute())


def test_unfilled_skill_dir_placeholder_is_ignored_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["whoami", "--skill-dir", "{baseDir}", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["skill"] == "nemo-mcp" and out["skill_dir"] is None
    assert any("not filled in" in w for w in out["warnings"])
    assert "not filled in" in captured.err


def test_description_is_capped_at_500() -> None:
    m = load_manifest("nemo-mcp").model_copy(update={"description": "A sentence. " * 80})
    assert len(skills.describe(m)) <= 500


def test_top_level_version_wins_over_metadata_version(tmp_path: Path) -> None:
    (tmp_path / "SKILL.md").write_text(
        '---\nname: nemo-mcp\nversion: "9.9.9"\ndescription: "a: b"\nmetadata:\n'
        '  version: "1.0.0"\n  openclaw:\n    version: "0.0.1"\n---\nbody\n'
    )
    front = read_frontmatter(tmp_path / "SKILL.md")
    assert front["description"] == "a: b" and front["metadata.version"] == "1.0.0"
    assert skill_identity(load_manifest("nemo-mcp"), tmp_path) == ("nemo-mcp", "9.9.9")
