"""Nameko dependencies of the messaging service built from its config: the settings
(``MESSAGING`` section) and the attachment blob store (``BLOBSTORE`` section)."""

from __future__ import annotations

from dataclasses import dataclass

from nameko.extensions import DependencyProvider

from .blobstore import BlobStore, blob_store_from_config
from .settings import MessagingSettings


@dataclass(frozen=True)
class MessagingConfig:
    """What a worker gets: the windows and limits in force, and where blobs live."""

    settings: MessagingSettings
    blobs: BlobStore


class MessagingConfigProvider(DependencyProvider):
    """Reads the config once per container; a bad setting stops the service at start-up."""

    def setup(self) -> None:
        config = self.container.config
        self.value = MessagingConfig(
            settings=MessagingSettings.from_config(config.get("MESSAGING") or {}),
            blobs=blob_store_from_config(config),
        )

    def get_dependency(self, worker_ctx) -> MessagingConfig:
        return self.value
