"""Azure OpenAI: OpenAI's wire format; the key in ``api-key``, the deployment in the path."""

from __future__ import annotations

import re

from lmgate.providers.openai import OpenAI

DEPLOYMENT_IN_PATH = re.compile(r"/deployments/([^/?]+)/")


class Azure(OpenAI):
    name = "azure"
    key_sources = ("api-key", "authorization")

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        """The body's model (v1 API) or else the deployment name, which is what the client chose."""
        model = super().model_from_request(path, body)
        if model is None:
            m = DEPLOYMENT_IN_PATH.search(path)
            model = m.group(1) if m else None
        return model


PROVIDER = Azure()
