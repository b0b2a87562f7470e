"""Azure OpenAI: OpenAI's wire format; the key in ``api-key``, the deployment in the path."""

from __future__ import annotations

import re

from lmgate.providers.openai import OpenAI

DEPLOYMENT_IN_PATH = re.compile(r"(?:^|/)deployments/([^/]+)")


class Azure(OpenAI):
    name = "azure"
    key_sources = ("api-key", "authorization")

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        """The deployment in the path (``/openai/deployments/{deployment}/...``), which Azure runs
        whatever the body's ``model`` says; else the body's model, which names the deployment in
        the v1 API (``/openai/v1/...``) and the Responses API."""
        m = DEPLOYMENT_IN_PATH.search(path)
        return m.group(1) if m else super().model_from_request(path, body)


PROVIDER = Azure()
