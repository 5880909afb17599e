from segkit.redact import redact, register_secret


def test_registered_secrets_and_key_parameters_are_masked():
    register_secret("s3cr3t-key-value")
    message = "GET https://serverless.roboflow.com/sam2/segment_image?api_key=abc123&x=1 failed; key s3cr3t-key-value"
    assert redact(message) == "GET https://serverless.roboflow.com/sam2/segment_image?api_key=***&x=1 failed; key ***"
    assert redact("nothing secret here") == "nothing secret here"

