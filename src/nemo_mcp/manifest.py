"""Skill manifests: one JSON file per skill in the top-level ``manifests/skills`` folder.

The active manifest (``NEMO_SKILL``, default ``nemo-mcp``) names the skill in the attribution
headers (``X-Skill-Source`` = name, ``X-Skill-Version`` = version) and supplies the upload limit,
example requests, preferred formats, tips and the MCP prompt menu (``prompts``: stable names,
full titles, described arguments). When a ``SKILL.md`` folder is active
(``NEMO_SKILL_DIR``), its frontmatter ``name`` and ``version`` override the manifest's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nemo_mcp.errors import ConfigError

_PACKAGED = Path(__file__).resolve().parent / "_manifests"
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "manifests" / "skills"
BASE_MANIFEST = "nemo-mcp"  # the default skill; it defines every prompt the others name
# The models' validators are built on first use, not on import: a server's start-up path reads
# only its skill's description (``skill_description``), and building them took ~8 ms.
_LAZY = ConfigDict(defer_build=True)


class PromptArgumentSpec(BaseModel):
    model_config = _LAZY

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    description: str = Field(min_length=1, max_length=200)
    required: bool = False
    default: str | None = Field(None, description="used in the request when not given")
    kind: Literal["text", "file"] = Field(
        "text", description="file: media to upload first (completed from the allowed folders)"
    )
    choices: list[str] = Field([], description="values offered while typing (completion)")


class PromptSpec(BaseModel):
    """One entry of the prompt menu MCP clients show (``/nemovideo:music_video``)."""

    model_config = _LAZY

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40, description="never renamed")
    title: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1, max_length=300)
    request: str = Field(description="what to ask the editing agent; {argument} placeholders")
    arguments: list[PromptArgumentSpec] = []

    @model_validator(mode="after")
    def _placeholders_have_arguments(self) -> PromptSpec:
        names = [a.name for a in self.arguments]
        if len(set(names)) != len(names):
            raise ValueError(f"prompt {self.name}: duplicate argument names")
        text = {a.name: a for a in self.arguments if a.kind == "text"}
        used = set(re.findall(r"{([a-z_]+)}", self.request))
        for name in used - set(text):
            raise ValueError(f"prompt {self.name}: {{{name}}} names no text argument")
        for name in used:
            if not text[name].required and text[name].default is None:
                raise ValueError(f"prompt {self.name}: optional {name} needs a default")
        return self


class SkillManifest(BaseModel):
    model_config = _LAZY

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
    prompts: list[PromptSpec] = Field([], description="the MCP prompt menu")

    @field_validator("prompts", mode="before")
    @classmethod
    def _named_prompts(cls, value: Any, info: ValidationInfo) -> Any:
        """A bare name stands for the prompt of that name in the base manifest (one definition
        of ``music_video`` for every skill that offers it)."""
        if not isinstance(value, list):
            return value
        catalog: dict[str, PromptSpec] = (info.context or {}).get("prompt_catalog") or {}
        out = []
        for item in value:
            if isinstance(item, str):
                if item not in catalog:
                    raise ValueError(f"prompt {item!r} is not defined in {BASE_MANIFEST}.json")
                item = catalog[item]
            out.append(item)
        return out

    @model_validator(mode="after")
    def _prompt_names_unique(self) -> SkillManifest:
        names = [p.name for p in self.prompts]
        if len(set(names)) != len(names):
            raise ValueError("prompt names must be unique")
        return self

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def manifests_dir() -> Path:
    for candidate in (_PACKAGED, _SOURCE_TREE):
        if candidate.is_dir():
            return candidate
    raise ConfigError("The skill manifests are missing from this installation.")


def parse_manifest(text: str, catalog: dict[str, PromptSpec] | None = None) -> SkillManifest:
    """A manifest from its JSON text; prompts given by name come from ``catalog``."""
    return SkillManifest.model_validate(json.loads(text), context={"prompt_catalog": catalog or {}})


@cache
def _load_all(folder: Path) -> dict[str, SkillManifest]:
    found: dict[str, SkillManifest] = {}
    base_file = folder / f"{BASE_MANIFEST}.json"
    catalog: dict[str, PromptSpec] = {}
    if base_file.is_file():
        base = parse_manifest(base_file.read_text(encoding="utf-8"))
        catalog = {p.name: p for p in base.prompts}
    for path in sorted(folder.glob("*.json")):
        manifest = parse_manifest(path.read_text(encoding="utf-8"), catalog)
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
        raise _unknown_skill(name, manifests) from None


def skill_description(name: str) -> str:
    """The skill's description, read from its manifest file without validating it (the
    server's start-up path; the whole manifest is validated when the tools are built). An
    unknown skill is the same ``ConfigError`` as from ``load_manifest``."""
    folder = manifests_dir()
    known = [p.stem for p in folder.glob("*.json")]
    # exactly one of them: no path, no other case (a file system may ignore case)
    if name not in known:
        raise _unknown_skill(name, known)
    try:
        raw = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return load_manifest(name).description  # unreadable: let validation say what is wrong
    description = raw.get("description") if isinstance(raw, dict) else None
    return description if isinstance(description, str) else load_manifest(name).description


def _unknown_skill(name: str, known: Iterable[str]) -> ConfigError:
    return ConfigError(
        f"Unknown skill {name!r}.", hint=f"Set NEMO_SKILL to one of: {', '.join(sorted(known))}."
    )


_FRONTMATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)


def read_frontmatter(skill_md: Path) -> dict[str, str]:
    """The top-level ``key: value`` scalars of a SKILL.md frontmatter (enough for name/version).

    The direct scalar children of a block ``metadata:`` mapping are returned as
    ``metadata.<key>`` (the Agent Skills spec keeps ``version`` there, since it allows no
    top-level ``version``); deeper blocks are skipped. No YAML dependency for a few scalars.
    """
    try:
        text = skill_md.read_text(encoding="utf-8")
    except OSError:
        return {}
    match = _FRONTMATTER.match(text)
    if not match:
        return {}
    out: dict[str, str] = {}
    block: str | None = None  # the top-level key whose indented block we are in
    child_indent: int | None = None
    for line in match.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        value = value.strip().strip('"').strip("'")
        if indent == 0:
            block, child_indent = key.strip(), None
            if value and not value.startswith(("{", "[", "|", ">")):
                out[key.strip()] = value
            continue
        if block != "metadata" or key.startswith("- "):
            continue
        if child_indent is None:
            child_indent = indent
        if indent == child_indent and value and not value.startswith(("{", "[", "|", ">")):
            out.setdefault(f"metadata.{key.strip()}", value)
    return out


def skill_identity(manifest: SkillManifest, skill_dir: Path | None) -> tuple[str, str]:
    """``(X-Skill-Source, X-Skill-Version)``: the SKILL.md frontmatter wins over the manifest.

    The version is the frontmatter's top-level ``version`` (NemoVideo's own skills) or
    ``metadata.version`` (the Agent Skills spec's place for it), else the manifest's.
    """
    if skill_dir is not None:
        front = read_frontmatter(skill_dir / "SKILL.md")
        if front.get("name"):
            version = front.get("version") or front.get("metadata.version") or manifest.version
            return front["name"], version
    return manifest.name, manifest.version


def manifest_for_skill_dir(skill_dir: Path) -> str | None:
    """The manifest a skill folder names: its SKILL.md frontmatter ``name``, if one is known."""
    name = read_frontmatter(skill_dir / "SKILL.md").get("name")
    if not name:
        return None
    try:
        known = all_manifests()
    except Exception:  # a broken installation must not stop settings from loading
        return None
    return name if name in known else None
