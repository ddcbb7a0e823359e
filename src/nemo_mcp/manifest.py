"""Skill manifests: one JSON file per skill in the top-level ``manifests/skills`` folder.

The active manifest (``NEMO_SKILL``, default ``nemo-mcp``) names the skill in the attribution
headers (``X-Skill-Source`` = name, ``X-Skill-Version`` = version) and supplies the upload limit,
example requests, preferred formats and tips. When a ``SKILL.md`` folder is active
(``NEMO_SKILL_DIR``), its frontmatter ``name`` and ``version`` override the manifest's.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from pydantic import BaseModel, Field

from nemo_mcp.errors import ConfigError

_PACKAGED = Path(__file__).resolve().parent / "_manifests"
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "manifests" / "skills"


class SkillManifest(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)
    version: str
    title: str
    description: str = Field(max_length=1024)
    job: str = Field(description="what the skill makes: music_video, promo_video, music, any")
    greeting: str
    examples: list[str] = Field(min_length=1, description='"Try saying" example requests')
    quick_workflow: str
    max_upload_mb: int = Field(gt=0)
    preferred_formats: list[str]
    tips: list[str]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def manifests_dir() -> Path:
    for candidate in (_PACKAGED, _SOURCE_TREE):
        if candidate.is_dir():
            return candidate
    raise ConfigError("The skill manifests are missing from this installation.")


@cache
def _load_all(folder: Path) -> dict[str, SkillManifest]:
    found: dict[str, SkillManifest] = {}
    for path in sorted(folder.glob("*.json")):
        manifest = SkillManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if manifest.name != path.stem:
            raise ConfigError(f"Manifest {path.name} names itself {manifest.name!r}.")
        found[manifest.name] = manifest
    return found


def all_manifests() -> dict[str, SkillManifest]:
    return dict(_load_all(manifests_dir()))


def load_manifest(name: str) -> SkillManifest:
    manifests = all_manifests()
    try:
        return manifests[name]
    except KeyError:
        known = ", ".join(sorted(manifests))
        raise ConfigError(
            f"Unknown skill {name!r}.", hint=f"Set NEMO_SKILL to one of: {known}."
        ) from None


_FRONTMATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)


def read_frontmatter(skill_md: Path) -> dict[str, str]:
    """The top-level ``key: value`` scalars of a SKILL.md frontmatter (enough for name/version).

    Nested blocks (``metadata:``) are skipped; we need no YAML dependency for two scalars.
    """
    try:
        text = skill_md.read_text(encoding="utf-8")
    except OSError:
        return {}
    match = _FRONTMATTER.match(text)
    if not match:
        return {}
    out: dict[str, str] = {}
    for line in match.group(1).splitlines():
        if not line or line[0].isspace() or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip().strip('"').strip("'")
        if value and not value.startswith(("{", "[", "|", ">")):
            out[key.strip()] = value
    return out


def skill_identity(manifest: SkillManifest, skill_dir: Path | None) -> tuple[str, str]:
    """``(X-Skill-Source, X-Skill-Version)``: the SKILL.md frontmatter wins over the manifest."""
    if skill_dir is not None:
        front = read_frontmatter(skill_dir / "SKILL.md")
        if front.get("name"):
            return front["name"], front.get("version") or manifest.version
    return manifest.name, manifest.version
