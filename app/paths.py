"""Where Mingjing keeps its data: one folder, chosen by --data-dir, MINGJING_HOME or the OS."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "MINGJING_HOME"


def resolve_data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    if override:
        path = Path(override)
    elif os.environ.get(ENV_HOME):
        path = Path(os.environ[ENV_HOME])
    else:
        from platformdirs import user_data_path

        path = user_data_path("Mingjing", appauthor=False)
    return path.expanduser().resolve()


@dataclass(frozen=True)
class AppPaths:
    root: Path

    @classmethod
    def create(cls, override: str | os.PathLike[str] | None = None) -> AppPaths:
        paths = cls(resolve_data_dir(override))
        for folder in (paths.root, paths.models_dir, paths.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return paths

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def conversations_db(self) -> Path:
        return self.root / "conversations.db"

    @property
    def knowledge_db(self) -> Path:
        return self.root / "knowledge.db"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "mingjing.log"
