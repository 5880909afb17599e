from segkit.redact import redact, register_secret


def test_registered_secrets_and_key_parameters_are_masked():
    register_secret("s3cr3t-key-value")
    message = "GET https://serverless.roboflow.com/sam2/segment_image?api_key=abc123&x=1 failed; key s3cr3t-key-value"
    assert redact(message) == "GET https://serverless.roboflow.com/sam2/segment_image?api_key=***&x=1 failed; key ***"
    assert redact("nothing secret here") == "nothing secret here"



def test_a_configured_secret_never_reaches_a_written_file(tmp_path):
    """A key a model echoed into a label (or a server into an error) is masked in every file segkit writes."""
    from cli_helpers import Cli, qwen_det, write_qwen, write_rgb

    secret = "rf_QWERTY0987654321"  # no sk- prefix: only its registration marks it
    register_secret(secret)
    cli = Cli(tmp_path)
    write_rgb(cli.images / "a.png", (64, 48))
    write_qwen(cli.dets / "a.json", [qwen_det((4, 4, 40, 30), (64, 48), f"cup {secret}")])
    result = cli.run("mock", "mock-ellipse", extra=["--coco", "--html"])
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    written = [p for p in cli.out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".csv" for p in written) and any(p.name == "report.html" for p in written)
    leaked = [p for p in written if secret.encode() in p.read_bytes()]
    assert not leaked, leaked
