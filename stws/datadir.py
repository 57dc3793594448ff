"""The data directory: the folders the background threads and mail use."""
from __future__ import annotations

import os
from pathlib import Path

# attribute name -> folder name (the seed's folder names, file-system friendly).
FOLDERS = {
    "raw_content": "raw-content",
    "call_recording": "call-recording",
    "temp": "temp",
    "failed_emails": "failed-emails",
    "logs": "logs",
    "user_handshakes": "user-handshakes",
    "orphaned_attachments": "orphaned-attachments",
    "zip_files": "zip-files",
    "email": "email",
    "attachments": "attachments",
}


class DataDirectory:
    def __init__(self, root):
        self.root = Path(root).resolve()
        for attribute, folder in FOLDERS.items():
            setattr(self, attribute, self.root / folder)

    def create(self) -> None:
        """Create the root and every folder, readable by the server's user only."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o750)
        for folder in FOLDERS.values():
            (self.root / folder).mkdir(mode=0o750, exist_ok=True)

    def folders(self) -> dict[str, Path]:
        return {attribute: getattr(self, attribute) for attribute in FOLDERS}
