"""Azure OpenAI: OpenAI's wire format; the key in ``api-key``, the deployment in the path."""

from __future__ import annotations

import re

from lmgate.providers.openai import OpenAI

DEPLOYMENT_IN_PATH = re.compile(r"(?:^|/)deployments/([^/]+)")


class Azure(OpenAI):
    name = "azure"
    key_sources = ("api-key", "authorization")
    default_upstream = "https://example-resource.openai.azure.com"
    key_header = ("api-key", "")  # accepted by both the deployments API and the v1 API
    price_sources = ("azure",)
    price_fallbacks = ("openai",)  # Azure bills OpenAI's list prices
    model_id_prefixes = ("azure/",)

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        """The deployment in the path (``/openai/deployments/{deployment}/...``), which Azure runs
        whatever the body's ``model`` says; else the body's model, which names the deployment in
        the v1 API (``/openai/v1/...``) and the Responses API."""
        m = DEPLOYMENT_IN_PATH.search(path)
        return m.group(1) if m else super().model_from_request(path, body)


PROVIDER = Azure()
