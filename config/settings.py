"""All of tongdai's settings: environment (prefix TONGDAI_) over config/tongdai.yaml over defaults.

Nested sections use a double underscore in the environment, e.g. TONGDAI_SIP__PORT=5070.
Build settings with :func:`load_settings`; nothing is read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from integrations.settings import IntegrationSettings
from ivr.officer_settings import QueueSettings, RegistrarSettings
from ivr.recording_line_settings import RecordingLineSettings
from ivr.settings import MediaSettings, SipSettings
from speech.settings import SpeechSettings
from telemetry.settings import NodeSettings
from web.settings import WebSettings

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG_FILE = CONFIG_DIR / "tongdai.yaml"


class MenuSettings(BaseModel):
    """Menu trees."""

    default_tree: Path = CONFIG_DIR / "menus" / "hotline.yaml"


class Settings(BaseSettings):
    """Root settings object, passed explicitly to every factory."""

    model_config = SettingsConfigDict(
        env_prefix="TONGDAI_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = "sqlite:///var/tongdai.db"
    data_dir: Path = Path("var")
    timezone: str = "Asia/Ho_Chi_Minh"
    workers: int = Field(
        default=1, ge=0, description="IVR worker processes behind the SIP port; 0: one per core"
    )
    sip: SipSettings = Field(default_factory=SipSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    integrations: IntegrationSettings = Field(default_factory=IntegrationSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    menus: MenuSettings = Field(default_factory=MenuSettings)
    node: NodeSettings = Field(default_factory=NodeSettings)
    registrar: RegistrarSettings = Field(default_factory=RegistrarSettings)
    queues: QueueSettings = Field(default_factory=QueueSettings)
    recording_line: RecordingLineSettings = Field(default_factory=RecordingLineSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("TONGDAI_CONFIG", DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def worker_count(settings: Settings) -> int:
    """How many IVR worker processes to run: the setting, or one per CPU core for 0."""
    return settings.workers or os.cpu_count() or 1


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and the config file; keyword overrides win."""
    return Settings(**overrides)
