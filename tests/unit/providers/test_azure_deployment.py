import pytest

from lmgate.providers.azure import PROVIDER as AZURE


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        # Azure runs the deployment in the path; the body's model is ignored there
        ("/openai/deployments/gpt-5-pro/chat/completions", {"model": "gpt-4o-mini"}, "gpt-5-pro"),
        ("/openai/deployments/my-mini/embeddings", None, "my-mini"),
        ("/openai/deployments/gpt-5-pro", None, "gpt-5-pro"),
        ("/openai/deployments/dalle/extensions/chat/completions", {}, "dalle"),
        # the v1 API and the Responses API name the deployment in the body
        ("/openai/v1/chat/completions", {"model": "gpt-4o-mini"}, "gpt-4o-mini"),
        ("/openai/responses", {"model": "o4-mini"}, "o4-mini"),
        ("/openai/deployments", None, None),  # listing deployments names none
    ],
)
def test_model_is_the_deployment_that_runs(path, body, model):
    assert AZURE.model_from_request(path, body) == model
