"""The embedded broker of the zero-setup run: kombu's filesystem transport, written atomically.

kombu creates a message file and then writes it, so a consumer polling the folder can open
the file in between, read nothing and crash the worker on the empty JSON. Here each message
is written under a name the consumer ignores and then renamed into place, which is atomic.

The broker is a folder, so it has no host: kombu's virtual transports default to one
('localhost') and warn "No hostname was supplied" at every connection whose URL
(`filesystem://`) names none, which here is every connection.
"""

import os
import uuid

from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(filesystem.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as error:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from error


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self):
        return {}  # no host, no port: nothing to fall back to, and so nothing to warn about
